package io.swarmbus.messaging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DomainTypesTest {

    @Test
    void agentId_invalid_isRejectedNamingTheField() {
        for (String bad : new String[] {"", "has space", "x".repeat(129), "semi;colon"}) {
            assertThatThrownBy(() -> AgentId.of(bad)).isInstanceOfSatisfying(SwarmbusException.class, e -> {
                assertThat(e.code()).isEqualTo(ErrorCode.INVALID_ARGUMENT);
                assertThat(e.field()).contains("agent_id");
            });
        }
        assertThat(AgentId.of("agent-7.worker:a@b_c").value()).isEqualTo("agent-7.worker:a@b_c");
    }

    @Test
    void priority_parsesNamesAndLevels_andRejectsTheRest() {
        assertThat(Priority.parse("HIGH")).isEqualTo(Priority.HIGH);
        assertThat(Priority.parse("critical")).isEqualTo(Priority.CRITICAL);
        assertThat(Priority.parse("0")).isEqualTo(Priority.LOW);
        assertThat(Priority.ofLevel(2)).isEqualTo(Priority.HIGH);
        assertThat(Priority.MEDIUM.wireName()).isEqualTo("medium");
        for (String bad : new String[] {"4", "urgent", "-1", ""}) {
            assertThatThrownBy(() -> Priority.parse(bad)).isInstanceOfSatisfying(SwarmbusException.class,
                    e -> assertThat(e.field()).contains("priority"));
        }
        assertThatThrownBy(() -> Priority.ofLevel(7)).hasMessageContaining("priority 7 is invalid");
    }

    @Test
    void messageType_acceptsCustomLowerCaseNames_andRejectsOthers() {
        assertThat(MessageType.of("llm_request")).isEqualTo(new MessageType("llm_request"));
        assertThatThrownBy(() -> MessageType.of("Chat")).isInstanceOf(SwarmbusException.class);
        assertThatThrownBy(() -> MessageType.of("9lives")).isInstanceOf(SwarmbusException.class);
    }

    @Test
    void messageId_roundTripsItsTextForm_andRejectsGarbage() {
        MessageId id = new MessageId((1_800_000_000_000L << MessageId.COUNTER_BITS) | 42);
        assertThat(id.toString()).hasSize(16);
        assertThat(MessageId.parse(id.toString())).isEqualTo(id);
        assertThat(id.timestamp().toEpochMilli()).isEqualTo(1_800_000_000_000L);
        assertThatThrownBy(() -> MessageId.parse("xyz")).isInstanceOfSatisfying(SwarmbusException.class,
                e -> assertThat(e.field()).contains("message_id"));
        assertThatThrownBy(() -> MessageId.parse("zzzzzzzzzzzzzzzz")).isInstanceOf(SwarmbusException.class);
    }

    @Test
    void messageId_hashesIdsOfOneBurstIntoDistinctBuckets() {
        Set<Integer> buckets = new HashSet<>();
        long base = 1_800_000_000_000L << MessageId.COUNTER_BITS;
        for (int i = 0; i < 4096; i++) {
            long ms = i / 256;
            buckets.add(new MessageId(base + (ms << MessageId.COUNTER_BITS) + i % 256).hashCode() & 0xFFFF);
        }
        assertThat(buckets.size()).isGreaterThan(3800);
    }

    @Test
    void sendRequest_validatesItsFields() {
        AgentId a = AgentId.of("a");
        assertThatThrownBy(() -> SendRequest.builder(a, Address.agent("b")).build())
                .isInstanceOfSatisfying(SwarmbusException.class, e -> assertThat(e.field()).contains("content"));
        assertThatThrownBy(() -> SendRequest.builder(a, Address.agent("b")).content("1").ttl(Duration.ZERO).build())
                .isInstanceOfSatisfying(SwarmbusException.class, e -> assertThat(e.field()).contains("ttl"));
        assertThatThrownBy(() -> SendRequest.builder(a, Address.agent("b")).content("1")
                .idempotencyKey("k".repeat(300)).build())
                .isInstanceOfSatisfying(SwarmbusException.class,
                        e -> assertThat(e.field()).contains("idempotency_key"));
        assertThatThrownBy(() -> SendRequest.builder(a, null).content("1").build())
                .isInstanceOfSatisfying(SwarmbusException.class, e -> assertThat(e.field()).contains("to"));
        assertThatThrownBy(() -> Address.group("bad name")).isInstanceOfSatisfying(SwarmbusException.class,
                e -> assertThat(e.field()).contains("group"));

        SendRequest.Builder full = SendRequest.builder(a, Address.agent("b")).content("1");
        for (int i = 0; i < 64; i++) {
            full.header("h" + i, "v");
        }
        // Regression: the traceparent the server takes from a request's header counted against the client's 64.
        assertThat(full.header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").build()
                .headers()).hasSize(65);
        assertThatThrownBy(() -> full.header("h64", "v").build()).isInstanceOfSatisfying(SwarmbusException.class,
                e -> assertThat(e.getMessage()).isEqualTo("a message may carry at most 64 headers besides traceparent, "
                        + "had 65"));
    }

    @Test
    void busConfig_invalidSettingIsRejectedByName() {
        assertThatThrownBy(() -> BusConfig.builder(java.nio.file.Path.of("x")).maxInboxDepth(0).build())
                .hasMessageContaining("max_inbox_depth must be at least 1, was 0");
        assertThatThrownBy(() -> BusConfig.builder(java.nio.file.Path.of("x"))
                .defaultVisibility(Duration.ofHours(13)).build())
                .hasMessageContaining("default_visibility");
        assertThatThrownBy(() -> BusConfig.builder(java.nio.file.Path.of("x")).maxReceiveBytes((1 << 20) - 1).build())
                .hasMessage("max_receive_bytes (1048575) must be at least max_message_bytes (1048576)");
        // Unset, the bound follows a message limit raised past its default rather than refusing it.
        assertThat(BusConfig.builder(java.nio.file.Path.of("x")).build().maxReceiveBytes()).isEqualTo(8 << 20);
        assertThat(BusConfig.builder(java.nio.file.Path.of("x")).maxMessageBytes(16 << 20).build().maxReceiveBytes())
                .isEqualTo(16 << 20);
    }
}
