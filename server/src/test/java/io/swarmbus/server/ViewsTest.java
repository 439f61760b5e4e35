package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
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
        for (String content : new String[] {"hello", "{\"open\":", "1 2", "{} trailing", "", "\"unterminated"}) {
            JsonNode view = rendered(withContent(content));
            assertThat(view.get("content").isTextual()).as(content).isTrue();
            assertThat(view.get("content").asText()).isEqualTo(content);
            assertThat(view.get("id").asText()).isEqualTo("00000000000000ab");
        }
    }
}
