package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class JsonTreeTest {
    static final List<String> CONTENTS = List.of("1", "-0.5e3", "12345678901234567890", "true", "false", "\"\"",
            "\"caf\\u00e9 \\\"quoted\\\" \\\\ \\n\"", "\"zoë ☃ 𝄞\"", "[]", "{}", "[1,[2,[3]],{\"a\":null}]",
            "{ \"nested\" : { \"content\" : [ 1 , 2 ] } , \"s\" : \"}\" }");

    static JsonNode read(String json) throws Exception {
        return JsonTree.read(json.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void messageContent_isKeptAsTheRawTextItArrivedAs_inEveryPlaceAMessageSits() throws Exception {
        for (String content : CONTENTS) {
            JsonNode body = read("{\"to\":\"b\",\"content\":" + content + ",\"x\":1}");
            JsonNode frame = read("{\"op\":\"send\",\"message\":{\"content\": " + content + " }}");
            JsonNode batch = read("{\"messages\":[{\"content\":" + content + "},{\"content\":" + content + "}]}");

            assertThat(JsonTree.text(body.get("content"))).isEqualTo(content);
            assertThat(JsonTree.text(frame.get("message").get("content"))).isEqualTo(content);
            assertThat(JsonTree.text(batch.get("messages").get(1).get("content"))).isEqualTo(content);
            assertThat(RequestBody.MAPPER.readTree(JsonTree.text(body.get("content"))))
                    .isEqualTo(RequestBody.MAPPER.readTree(content));
            assertThat(body.get("x").asInt()).isEqualTo(1);
        }
    }

    @Test
    void everythingElse_matchesJacksonsOwnTree() throws Exception {
        Random random = new Random(7);
        for (int i = 0; i < 300; i++) {
            String json = "{\"headers\":{\"content\":\"" + i + "\"},\"n\":" + random.nextLong() + ",\"d\":"
                    + random.nextDouble() + ",\"list\":[" + random.nextInt() + ",\"s" + i + "\",null,true],"
                    + "\"parameters\":{\"content\":{\"k\":" + i + "}},\"content\":null}";
            assertThat(read(json)).isEqualTo(RequestBody.MAPPER.readTree(json));
        }
    }

    @Test
    void malformedJson_isRefused_evenInsideContent() {
        for (String bad : List.of("{\"content\":{\"a\":}}", "{\"content\":[1,}", "{\"content\":tru}", "{\"a\":1} x",
                "{\"content\":\"open", "{\"content\":01}")) {
            assertThatThrownBy(() -> RequestBody.parse(bad.getBytes(StandardCharsets.UTF_8))).as(bad)
                    .isInstanceOf(io.swarmbus.SwarmbusException.class).hasMessageContaining("not valid JSON");
        }
    }
}
