package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.Message;
import io.swarmbus.messaging.MessageId;
import io.swarmbus.messaging.MessageType;
import io.swarmbus.messaging.Priority;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ViewsTest {
    static Message withContent(String content) {
        return new Message(MessageId.parse("00000000000000ab"), AgentId.of("a"), Address.agent(AgentId.of("b")),
                MessageType.of("chat"), content, Priority.MEDIUM, Optional.empty(), Optional.empty(), Optional.empty(),
                Map.of(), Instant.parse("2026-11-22T00:00:00Z"), Optional.empty(), Optional.empty());
    }

    static Message full(Address to, String content) {
        return new Message(MessageId.parse("00000000000000ac"), AgentId.of("a.b:c@d-e"), to,
                MessageType.of("task_request"), content, Priority.CRITICAL, Optional.of("corr \"1\"\n"),
                Optional.of("reply-to"), Optional.of("conv/ë"),
                Map.of("traceparent", "00-abc-def-01", "quote\"d", "tab\there \u2028 \u0001"),
                Instant.parse("2026-11-22T00:00:00.123456Z"), Optional.of(Instant.parse("2026-11-23T00:00:00Z")),
                Optional.of("idem-\\-1"));
    }

    static JsonNode rendered(Message message) throws Exception {
        return RequestBody.MAPPER.readTree(RequestBody.MAPPER.writeValueAsString(Views.message(message)));
    }

    @Test
    void storedJsonContent_goesOutAsTheSameJsonValue() throws Exception {
        for (String content : JsonTreeTest.CONTENTS) {
            assertThat(rendered(withContent(content)).get("content"))
                    .as(content).isEqualTo(RequestBody.MAPPER.readTree(content));
        }
    }

    @Test
    void contentThatIsNotJson_goesOutAsAJsonString_andTheAnswerStaysValidJson() throws Exception {
        for (String content : new String[] {"hello", "{\"open\":", "1 2", "{} trailing", "", "\"unterminated",
                "\"", "\"a\"b\"", "\"tab\there\"", "\"ends in a backslash\\\""}) {
            JsonNode view = rendered(withContent(content));
            assertThat(view.get("content").isTextual()).as(content).isTrue();
            assertThat(view.get("content").asText()).isEqualTo(content);
            assertThat(view.get("id").asText()).isEqualTo("00000000000000ab");
        }
    }

    @Test
    void theHandWrittenDelivery_isTheSameJsonTextAsTheMapView() throws Exception {
        Instant lease = Instant.parse("2026-11-22T00:00:30Z");
        java.util.List<Message> messages = new java.util.ArrayList<>();
        for (String content : JsonTreeTest.CONTENTS) {
            messages.add(withContent(content));
        }
        for (String content : new String[] {"not json", "{\"a\":1} x", ""}) {
            messages.add(withContent(content));
        }
        for (Address to : java.util.List.of(Address.agent("b"), Address.group("team"), Address.topic("news/today"),
                Address.broadcast())) {
            messages.add(full(to, "{\"k\": [1, 2]}"));
        }
        for (Message message : messages) {
            Delivery delivery = new Delivery(message, AgentId.of("b"), 3, lease);
            assertThat(Views.writeDelivery(new StringBuilder(), delivery).toString()).as(message.content())
                    .isEqualTo(RequestBody.MAPPER.writeValueAsString(Views.delivery(delivery)));
        }
    }
}
