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
    void halfASurrogatePairSpelledWithAnEscape_isRefused_inContentAsElsewhere() throws Exception {
        for (String bad : List.of("\"\\ud800\"", "\"a\\udc00b\"", "{\"k\":[\"\\uD83D\"]}", "\"\\ud83d\\u0041\"",
                "\"\\ud83d\\ud83d\"", "\"\\\\\\ud800\"")) {
            assertThatThrownBy(() -> read("{\"content\":" + bad + "}")).as(bad)
                    .isInstanceOf(io.swarmbus.SwarmbusException.class).hasMessageContaining("surrogate pair");
        }
        for (String good : List.of("\"\\ud83d\\ude00\"", "\"\\\\ud800\"", "\"x\\n\\u00e9\\\"\\ud83d\\udE00y\"",
                "[\"\\\\\", \"\\u0041\"]")) {
            assertThat(JsonTree.text(read("{\"content\":" + good + "}").get("content"))).as(good).isEqualTo(good);
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
