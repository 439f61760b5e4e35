package io.swarmbus.server;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.MACVerifier;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import java.nio.charset.StandardCharsets;
import java.text.ParseException;
import java.time.Clock;
import java.time.Duration;
import java.util.Date;

/**
 * Issues and verifies HS256 JWTs. Verification accepts only HS256 signed with our secret and not
 * expired: {@code alg: none}, other algorithms, tampered and expired tokens are all rejected.
 */
final class Tokens {
    private static final int MIN_SECRET_BYTES = 32;

    private final byte[] secret;
    private final Duration lifetime;
    private final Clock clock;

    Tokens(String secret, Duration lifetime, Clock clock) {
        this.secret = secret.getBytes(StandardCharsets.UTF_8);
        if (this.secret.length < MIN_SECRET_BYTES) {
            throw new IllegalArgumentException("JWT_SECRET must be at least " + MIN_SECRET_BYTES + " bytes for HS256");
        }
        this.lifetime = lifetime;
        this.clock = clock;
    }

    Duration lifetime() {
        return lifetime;
    }

    String issue(String subject, boolean admin) {
        Date now = Date.from(clock.instant());
        JWTClaimsSet claims = new JWTClaimsSet.Builder()
                .subject(subject)
                .issuer("swarmbus")
                .claim("admin", admin)
                .issueTime(now)
                .expirationTime(Date.from(clock.instant().plus(lifetime)))
                .build();
        try {
            SignedJWT jwt = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), claims);
            jwt.sign(new MACSigner(secret));
            return jwt.serialize();
        } catch (JOSEException e) {
            throw new IllegalStateException("cannot sign a token", e);
        }
    }

    /** The verified subject of {@code token}. */
    String verify(String token) {
        try {
            SignedJWT jwt = SignedJWT.parse(token);
            if (!JWSAlgorithm.HS256.equals(jwt.getHeader().getAlgorithm()) || !jwt.verify(new MACVerifier(secret))) {
                throw unauthenticated("the token's signature is not valid");
            }
            JWTClaimsSet claims = jwt.getJWTClaimsSet();
            Date expires = claims.getExpirationTime();
            if (expires == null || !expires.toInstant().isAfter(clock.instant())) {
                throw unauthenticated("the token has expired; get a new one from /auth/token");
            }
            if (claims.getSubject() == null) {
                throw unauthenticated("the token names no subject");
            }
            return claims.getSubject();
        } catch (ParseException | JOSEException | IllegalArgumentException e) {
            throw unauthenticated("the token is not a valid signed JWT");
        }
    }

    static SwarmbusException unauthenticated(String message) {
        return new SwarmbusException(ErrorCode.UNAUTHENTICATED, message);
    }
}
