package io.swarmbus.llm.sim;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SchemaSampleTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final List<String> WORDS = List.of("alpha", "beta", "gamma", "delta");

    @Test
    void aValueFitsTheSchema_objectsArraysBoundsAndTexts() throws Exception {
        JsonNode schema = JSON.readTree("""
                {"type":"object","properties":{
                  "subtasks":{"type":"array","items":{"type":"string"},"minItems":2,"maxItems":4},
                  "score":{"type":"number","minimum":0,"maximum":10},
                  "count":{"type":["integer","null"],"minimum":5,"maximum":6},
                  "done":{"type":"boolean"},
                  "kind":{"const":"plan"}}}""");
        for (long seed = 0; seed < 50; seed++) {
            JsonNode value = SchemaSample.of(schema, WORDS, seed);
            assertThat(value.get("subtasks").size()).isBetween(2, 4);
            value.get("subtasks").forEach(s -> assertThat(WORDS).contains(s.asText().split(" ")));
            assertThat(value.get("score").asDouble()).isBetween(0.0, 10.0);
            assertThat(value.get("count").isIntegralNumber()).isTrue();
            assertThat(value.get("count").asInt()).isBetween(5, 6);
            assertThat(value.get("done").isBoolean()).isTrue();
            assertThat(value.get("kind").asText()).isEqualTo("plan");
        }
    }

    @Test
    void choices_dependOnlyOnTheSeed_andDifferentSeedsDisagreeSometimes() throws Exception {
        JsonNode schema = JSON.readTree("{\"type\":\"object\",\"properties\":{\"answer\":{\"enum\":[\"yes\",\"no\",\"maybe\"]}}}");
        Set<String> seen = new HashSet<>();
        for (long seed = 0; seed < 30; seed++) {
            String answer = SchemaSample.of(schema, WORDS, seed).get("answer").asText();
            assertThat(SchemaSample.of(schema, WORDS, seed).get("answer").asText()).isEqualTo(answer);
            seen.add(answer);
        }
        assertThat(seen).containsExactlyInAnyOrder("yes", "no", "maybe");
    }
}
