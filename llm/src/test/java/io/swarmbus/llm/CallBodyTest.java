package io.swarmbus.llm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CallBodyTest {
    static CallBody parse(String json) {
        return CallBody.parse(json.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void aReceivedBody_givesTheRoutingFields_andIsSentAsReceived() {
        String json = "{\"messages\":[{\"role\":\"user\",\"content\":\"a long prompt\"}],\"model\":\"m\","
                + "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":5}";
        CallBody body = parse(json);
        assertThat(body.model()).isEqualTo("m");
        assertThat(body.stream()).isTrue();
        assertThat(body.includeUsage()).isTrue();
        assertThat(new String(body.received(), StandardCharsets.UTF_8)).isEqualTo(json);
        assertThat(body.tree().at("/messages/0/content").asText()).isEqualTo("a long prompt");
    }

    @Test
    void absentFields_readAsTheirDefaults() {
        CallBody body = parse("{\"input\":\"x\"}");
        assertThat(body.model()).isEmpty();
        assertThat(body.stream()).isFalse();
        assertThat(body.includeUsage()).isFalse();
    }

    /** The same reading as the tree's {@code asBoolean}, which the gateway used before. */
    @Test
    void streamFlags_readLikeTheTreeReadsThem() {
        for (String stream : new String[] {"true", "false", "null"}) {
            String json = "{\"model\":\"m\",\"stream\":" + stream + ",\"stream_options\":{\"include_usage\":" + stream + "}}";
            CallBody received = parse(json);
            CallBody built = CallBody.of(parse(json).tree());
            assertThat(received.stream()).as(stream).isEqualTo(built.stream());
            assertThat(received.includeUsage()).as(stream).isEqualTo(built.includeUsage());
        }
        // Anything else is refused, as OpenAI refuses it: a backend reading "yes" or 1 leniently
        // (pydantic does) would stream an answer the gateway was told not to expect as a stream.
        for (String stream : new String[] {"\"true\"", "1", "\"yes\"", "0", "{}"}) {
            assertThatThrownBy(() -> parse("{\"model\":\"m\",\"stream\":" + stream + "}")).as(stream)
                    .isInstanceOf(CallBody.Invalid.class).hasMessageStartingWith("'stream' must be true or false");
        }
    }

    @Test
    void aDuplicateKey_atAnyDepth_isRefused() {
        assertThatThrownBy(() -> parse("{\"model\":\"a\",\"model\":\"b\"}")).isInstanceOf(CallBody.Invalid.class)
                .hasMessageContaining("Duplicate field 'model'");
        assertThatThrownBy(() -> parse("{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"role\":\"system\"}]}"))
                .isInstanceOf(CallBody.Invalid.class).hasMessageContaining("Duplicate field 'role'");
    }

    @Test
    void malformedBodies_areRefusedNamingWhatIsWrong() {
        assertThatThrownBy(() -> parse("[1,2]")).isInstanceOf(CallBody.Invalid.class)
                .hasMessage("the body must be a JSON object");
        assertThatThrownBy(() -> parse("{\"model\":\"m\",\"messages\":[{\"content\":\"unterminated}]}"))
                .isInstanceOf(CallBody.Invalid.class).hasMessageStartingWith("the body is not valid JSON");
        assertThatThrownBy(() -> parse("{\"model\":42}")).isInstanceOf(CallBody.Invalid.class)
                .hasMessage("'model' must be a string").extracting(e -> ((CallBody.Invalid) e).field()).isEqualTo("model");
        assertThatThrownBy(() -> parse("{\"model\":null}")).isInstanceOf(CallBody.Invalid.class)
                .hasMessage("'model' must be a string");
        assertThatThrownBy(() -> parse("{\"model\":\"m\",\"stream\":\"yes\"}")).isInstanceOf(CallBody.Invalid.class)
                .hasMessage("'stream' must be true or false, was \"yes\"").extracting(e -> ((CallBody.Invalid) e).field())
                .isEqualTo("stream");
        assertThat(parse("{\"model\":\"m\",\"stream\":null}").stream()).isFalse();
        assertThatThrownBy(() -> parse("")).isInstanceOf(CallBody.Invalid.class);
        assertThatThrownBy(() -> parse("{\"model\":\"m\"} trailing")).isInstanceOf(CallBody.Invalid.class);
        assertThatThrownBy(() -> parse("{\"model\":\"m\"}{\"model\":\"n\"}")).isInstanceOf(CallBody.Invalid.class)
                .hasMessage("the body has more after its JSON object");
    }

    @Test
    void aBodyBuiltHere_hasNoReceivedBytes() {
        ObjectNode tree = OpenAiWire.JSON.createObjectNode().put("model", "m").put("stream", true);
        CallBody body = CallBody.of(tree);
        assertThat(body.received()).isNull();
        assertThat(body.model()).isEqualTo("m");
        assertThat(body.stream()).isTrue();
        assertThat(body.tree()).isSameAs(tree);
    }
}
