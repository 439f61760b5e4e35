package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final ByteArrayOutputStream errors = new ByteArrayOutputStream();

    private int run(String... args) {
        bytes.reset();
        errors.reset();
        return new Main(new PrintStream(bytes, true, StandardCharsets.UTF_8),
                new PrintStream(errors, true, StandardCharsets.UTF_8)).run(args);
    }

    private String output() {
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void demo_runsTwice_andTheSecondRunRecoversTheFirst() {
        assertThat(run("demo", "--data-dir", dir.toString())).isZero();
        assertThat(output()).contains("inbox planner    created", "acked", "duplicate=true");

        assertThat(run("demo", "--data-dir", dir.toString())).isZero();
        assertThat(output()).contains("inbox planner    recovered", "recovered ");
    }

    @Test
    void sendThenReceive_acrossTwoInvocations_deliversTheMessageOnce() {
        assertThat(run("send", "--data-dir", dir.toString(), "--from", "planner", "--to", "planner",
                "--content", "{\"x\":1}", "--priority", "critical")).isZero();
        assertThat(run("receive", "--data-dir", dir.toString(), "--agent", "planner", "--ack")).isZero();
        assertThat(output()).contains("critical", "{\"x\":1}", "acked 1 message(s)");
        assertThat(run("receive", "--data-dir", dir.toString(), "--agent", "planner")).isZero();
        assertThat(output()).contains("0 message(s) for planner");
    }

    @Test
    void send_toUnknownAgent_failsWithTheErrorCode() {
        assertThat(run("send", "--data-dir", dir.toString(), "--from", "a", "--to", "ghost", "--content", "1"))
                .isEqualTo(1);
        assertThat(errors.toString(StandardCharsets.UTF_8)).isEqualTo("swarmbus: not_found: agent 'ghost' has no inbox\n");
    }

    @Test
    void badUsage_exitsWithTwo() {
        assertThat(run()).isEqualTo(2);
        assertThat(run("send", "--data-dir", dir.toString(), "--from", "a", "--content", "1")).isEqualTo(2);
        assertThat(run("frobnicate", "--data-dir", dir.toString())).isEqualTo(2);
        assertThat(run("send", "stray")).isEqualTo(2);
        assertThat(errors.toString(StandardCharsets.UTF_8)).contains("unexpected argument 'stray'");
    }
}
