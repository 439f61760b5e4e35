package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigTest {
    @TempDir
    Path dir;

    @Test
    void layers_fileThenEnvironmentThenFlags() throws Exception {
        Path file = Files.writeString(dir.resolve("swarmbus.yaml"), """
                server:
                  port: 9000
                  host: 10.1.2.3
                limits:
                  rate_limit_per_minute: 50
                messaging:
                  max_deliveries: 7
                """);

        Config config = Config.load(Optional.of(file), Map.of("PORT", "9100", "RATE_LIMIT_PER_MINUTE", "60"),
                Map.of("server.port", "9200"));

        assertThat(config.get(Config.PORT)).isEqualTo(9200);
        assertThat(config.get(Config.HOST)).isEqualTo("10.1.2.3");
        assertThat(config.get(Config.RATE_LIMIT)).isEqualTo(60);
        assertThat(config.get(Config.MAX_DELIVERIES)).isEqualTo(7);
        assertThat(config.get(Config.TOKEN_EXPIRE_MINUTES)).isEqualTo(1440);
        assertThat(Main.busConfig(config).maxDeliveries()).isEqualTo(7);
    }

    @Test
    void invalidValues_failNamingTheKey() throws Exception {
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("PORT", "eighty"), Map.of()))
                .hasMessageContaining("config key 'server.port' is invalid: expected a whole number (was 'eighty')");
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("TOKEN_EXPIRE_MINUTES", "0"), Map.of()))
                .hasMessageContaining("auth.token_expire_minutes");
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("JWT_ALGORITHM", "none"), Map.of()))
                .hasMessageContaining("auth.jwt_algorithm");
        Path file = Files.writeString(dir.resolve("bad.yaml"), "server:\n  prot: 1\n");
        assertThatThrownBy(() -> Config.load(Optional.of(file), Map.of(), Map.of()))
                .hasMessageContaining("unknown key 'server.prot'");
    }

    /** Keeps docs/config.md generated from the declarations; -Dconfig.doc.write=true rewrites it. */
    @Test
    void docsConfigMd_matchesTheDeclarations() throws Exception {
        Path doc = Path.of("..", "docs", "config.md");
        if (Boolean.getBoolean("config.doc.write")) {
            Files.writeString(doc, Config.markdown());
        }
        assertThat(Files.readString(doc))
                .as("docs/config.md is stale: run ./mvnw -pl server test -Dtest=ConfigTest -Dconfig.doc.write=true")
                .isEqualTo(Config.markdown());
    }
}
