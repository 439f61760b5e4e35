package io.swarmbus.messaging;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TraceparentTest {
    @Test
    void acceptsTheW3cFormat_andNothingElse() {
        String valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assertThat(Traceparent.parse(valid)).contains(valid);
        assertThat(Traceparent.parse(" " + valid + " ")).as("surrounding spaces").contains(valid);
        assertThat(Traceparent.parse(null)).isEmpty();
        assertThat(Traceparent.parse("garbage")).isEmpty();
        assertThat(Traceparent.parse(valid.toUpperCase())).as("upper-case hex").isEmpty();
        assertThat(Traceparent.parse("ff" + valid.substring(2))).as("version ff").isEmpty();
        assertThat(Traceparent.parse("00-" + "0".repeat(32) + "-00f067aa0ba902b7-01")).as("zero trace id").isEmpty();
        assertThat(Traceparent.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0".repeat(16) + "-01")).as("zero parent id")
                .isEmpty();
        assertThat(Traceparent.parse(valid + "-extra")).as("version 00 has four fields").isEmpty();
    }

    /** Regression: a version after 00 was ignored, where the specification has it read as 00. */
    @Test
    void aLaterVersion_isReadForItsIds_andPassedOnAs00() {
        String ids = "-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assertThat(Traceparent.parse("01" + ids)).contains("00" + ids);
        assertThat(Traceparent.parse("cc" + ids + "-what-comes-next")).contains("00" + ids);
        assertThat(Traceparent.parse("cc" + ids + "x")).as("flags must end the value or a dash").isEmpty();
        assertThat(Traceparent.parse("cc" + ids.substring(0, 20))).as("too short").isEmpty();
    }
}
