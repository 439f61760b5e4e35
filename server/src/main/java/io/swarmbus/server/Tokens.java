package io.swarmbus.server;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSSigner;
import com.nimbusds.jose.JWSVerifier;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.MACVerifier;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.crypto.RSASSAVerifier;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.RSAPublicKeySpec;
import java.text.ParseException;
import java.util.Base64;
import java.time.Clock;
import java.time.Duration;
import java.util.Date;

/**
 * Issues and verifies JWTs, HS256 with a shared secret or RS256 with an RSA key pair. Verification
 * accepts only the configured algorithm with our key and an unexpired token: {@code alg: none},
 * other algorithms, tampered and expired tokens are all rejected.
 */
final class Tokens {
    static final int MIN_SECRET_BYTES = 32;
    private static final int MIN_RSA_BITS = 2048;

    private static final int MAX_VERIFIED = 10_000;

    /**
     * Tokens whose signature already checked out, by their exact text (signature included, so a
     * changed token never matches). Agents present the same token on every poll; checking its
     * HMAC each time was a tenth of the server's CPU under 5,000 long-polls a second.
     */
    private final java.util.Map<String, Verified> verified = new java.util.concurrent.ConcurrentHashMap<>();
    private final JWSAlgorithm algorithm;
    private final JWSSigner signer;
    private final JWSVerifier verifier;
    private final Duration lifetime;
    private final Clock clock;

    private Tokens(JWSAlgorithm algorithm, JWSSigner signer, JWSVerifier verifier, Duration lifetime, Clock clock) {
        this.algorithm = algorithm;
        this.signer = signer;
        this.verifier = verifier;
        this.lifetime = lifetime;
        this.clock = clock;
    }

    /** HS256 with {@code secret}, which must be at least 32 bytes; {@code name} is what it was set with. */
    static Tokens hs256(String secret, String name, Duration lifetime, Clock clock) {
        byte[] key = secret.getBytes(StandardCharsets.UTF_8);
        if (key.length < MIN_SECRET_BYTES) {
            throw new IllegalArgumentException(name + " must be at least " + MIN_SECRET_BYTES + " bytes for HS256");
        }
        try {
            return new Tokens(JWSAlgorithm.HS256, new MACSigner(key), new MACVerifier(key), lifetime, clock);
        } catch (JOSEException e) {
            throw new IllegalArgumentException(name + " is not a usable HS256 key: " + e.getMessage(), e);
        }
    }

    /**
     * RS256 with the RSA private key in {@code pemFile} (PKCS#8 PEM, as written by
     * {@code openssl genpkey -algorithm RSA}); the public half, for verifying, is derived from it.
     */
    static Tokens rs256(Path pemFile, Duration lifetime, Clock clock) {
        String pem;
        try {
            pem = Files.readString(pemFile, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new IllegalArgumentException("auth.jwt_private_key_file: cannot read " + pemFile + ": "
                    + io.swarmbus.storage.StorageException.reason(e), e);
        }
        if (!pem.contains("-----BEGIN PRIVATE KEY-----")) {
            throw new IllegalArgumentException("auth.jwt_private_key_file: " + pemFile + " is not a PKCS#8 PEM private key "
                    + "(expected '-----BEGIN PRIVATE KEY-----'; create one with: openssl genpkey -algorithm RSA "
                    + "-pkeyopt rsa_keygen_bits:2048 -out jwt.pem)");
        }
        String base64 = pem.replaceAll("-----(BEGIN|END) PRIVATE KEY-----", "").replaceAll("\\s", "");
        RSAPrivateCrtKey key;
        RSAPublicKey publicKey;
        try {
            KeyFactory rsa = KeyFactory.getInstance("RSA");
            key = (RSAPrivateCrtKey) rsa.generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(base64)));
            publicKey = (RSAPublicKey) rsa.generatePublic(new RSAPublicKeySpec(key.getModulus(), key.getPublicExponent()));
        } catch (GeneralSecurityException | ClassCastException | IllegalArgumentException e) {
            throw new IllegalArgumentException("auth.jwt_private_key_file: " + pemFile + " is not an RSA private key", e);
        }
        if (key.getModulus().bitLength() < MIN_RSA_BITS) {
            throw new IllegalArgumentException("auth.jwt_private_key_file: RSA keys must have at least " + MIN_RSA_BITS
                    + " bits");
        }
        return new Tokens(JWSAlgorithm.RS256, new RSASSASigner(key), new RSASSAVerifier(publicKey), lifetime, clock);
    }

    /** The algorithm tokens are signed with. */
    String algorithm() {
        return algorithm.getName();
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
            SignedJWT jwt = new SignedJWT(new JWSHeader(algorithm), claims);
            jwt.sign(signer);
            return jwt.serialize();
        } catch (JOSEException e) {
            throw new IllegalStateException("cannot sign a token", e);
        }
    }

    /** The verified subject of {@code token}. */
    String verify(String token) {
        return check(token).subject();
    }

    /**
     * How long {@code token} stays valid from now; fails as {@link #verify} does if it is not. A
     * long-poll waits no longer than this ({@link ReceiveHandler}).
     */
    Duration timeLeft(String token) {
        return Duration.between(clock.instant(), check(token).expires());
    }

    private Verified check(String token) {
        Verified known = verified.get(token);
        if (known != null) {
            if (!known.expires().isAfter(clock.instant())) {
                verified.remove(token);
                throw unauthenticated("the token has expired; get a new one from /auth/token");
            }
            return known;
        }
        try {
            SignedJWT jwt = SignedJWT.parse(token);
            if (!algorithm.equals(jwt.getHeader().getAlgorithm()) || !jwt.verify(verifier)) {
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
            if (verified.size() >= MAX_VERIFIED) {
                verified.clear(); // crude but bounded; a miss only costs one signature check
            }
            Verified checked = new Verified(claims.getSubject(), expires.toInstant());
            verified.put(token, checked);
            return checked;
        } catch (ParseException | JOSEException | IllegalArgumentException e) {
            throw unauthenticated("the token is not a valid signed JWT");
        }
    }

    private record Verified(String subject, java.time.Instant expires) {}

    static SwarmbusException unauthenticated(String message) {
        return new SwarmbusException(ErrorCode.UNAUTHENTICATED, message);
    }
}
