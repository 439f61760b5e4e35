package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.server.TestApi.Reply;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tasks over real HTTP: create, the worker's request message, reports by API and by message, retries, cancel. */
class TaskApiTest {
    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    String token;
    TestApi api;

    @BeforeEach
    void start() throws Exception {
        bus = MessageBus.open(BusConfig.builder(dir).build());
        server = HttpServer.start(bus, ServerSettings.forTests(dir));
        api = new TestApi(server);
        token = token("team");
        call("POST", "/api/v1/agents", "{\"agent_id\":\"boss\",\"role\":\"supervisor\"}");
        call("POST", "/api/v1/agents", "{\"agent_id\":\"py1\",\"capabilities\":[\"python\"],\"max_concurrent_tasks\":2}");
        call("POST", "/api/v1/agents", "{\"agent_id\":\"py2\",\"capabilities\":[\"python\"],\"max_concurrent_tasks\":2}");
    }

    @AfterEach
    void stop() {
        server.close();
        bus.close();
    }

    String token(String user) throws Exception {
        return api.token(user);
    }

    Reply call(String method, String path, String body) throws Exception {
        return call(token, method, path, body);
    }

    Reply call(String bearer, String method, String path, String body) throws Exception {
        return api.call(bearer, method, path, body);
    }

    JsonNode receiveOne(String agent) throws Exception {
        JsonNode messages = call("POST", "/api/v1/agents/" + agent + "/receive?timeout=5", null).body().get("messages");
        assertThat(messages).as("a message for " + agent).hasSize(1);
        call("POST", "/api/v1/agents/" + agent + "/ack", "{\"message_id\":\"" + messages.get(0).get("id").asText() + "\"}");
        return messages.get(0);
    }

    JsonNode awaitStatus(String id, String status) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        JsonNode task = call("GET", "/api/v1/tasks/" + id, null).body();
        while (!task.get("status").asText().equals(status) && System.nanoTime() < deadline) {
            Thread.sleep(50);
            task = call("GET", "/api/v1/tasks/" + id, null).body();
        }
        assertThat(task.get("status").asText()).as(task.toString()).isEqualTo(status);
        return task;
    }

    @Test
    void aWorkerGetsTheRequest_reportsByApi_andTheSupervisorHearsTheOutcome() throws Exception {
        Reply created = call("POST", "/api/v1/tasks", "{\"task_type\":\"api_development\",\"description\":\"auth API\","
                + "\"parameters\":{\"framework\":\"fastapi\"},\"required_capabilities\":[\"python\"],\"priority\":\"high\","
                + "\"timeout_seconds\":60,\"max_retries\":2,\"created_by\":\"boss\"}");
        String id = created.body().get("task_id").asText();
        String worker = created.body().get("assignee").asText();
        JsonNode request = receiveOne(worker);

        Reply progress = call("POST", "/api/v1/tasks/" + id + "/progress", "{\"agent_id\":\"" + worker + "\",\"progress\":50}");
        Reply done = call("POST", "/api/v1/tasks/" + id + "/complete", "{\"agent_id\":\"" + worker + "\","
                + "\"result\":{\"endpoints\":4}}");
        JsonNode outcome = receiveOne("boss");
        JsonNode stats = call("GET", "/api/v1/tasks/stats", null).body();

        assertThat(created.status()).isEqualTo(201);
        assertThat(created.body().get("status").asText()).isEqualTo("assigned");
        assertThat(request.get("type").asText()).isEqualTo("task_request");
        assertThat(request.get("content").get("parameters").get("framework").asText()).isEqualTo("fastapi");
        assertThat(request.get("priority").asText()).isEqualTo("high");
        assertThat(progress.body().get("status").asText()).isEqualTo("in_progress");
        assertThat(done.body().get("status").asText()).isEqualTo("completed");
        assertThat(done.body().get("result").get("endpoints").asInt()).isEqualTo(4);
        assertThat(outcome.get("type").asText()).isEqualTo("task_response");
        assertThat(outcome.get("content").get("status").asText()).isEqualTo("completed");
        assertThat(stats.get("completion_rate").asDouble()).isEqualTo(1.0);
        assertThat(stats.get("by_status").get("completed").asInt()).isEqualTo(1);
    }

    @Test
    void aTasksTraceparent_travelsWithItsRequestAndItsOutcome_andAnInvalidOneIsDropped() throws Exception {
        String trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        Reply created = api.call(token, "POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"python\"],"
                + "\"created_by\":\"boss\"}", java.util.Map.of("traceparent", trace));
        String worker = created.body().get("assignee").asText();
        JsonNode request = receiveOne(worker);
        call("POST", "/api/v1/tasks/" + created.body().get("task_id").asText() + "/complete",
                "{\"agent_id\":\"" + worker + "\",\"result\":1}");
        JsonNode outcome = receiveOne("boss");

        assertThat(request.get("headers").get("traceparent").asText()).isEqualTo(trace);
        assertThat(outcome.get("headers").get("traceparent").asText()).isEqualTo(trace);

        Reply untraced = api.call(token, "POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"python\"]}",
                java.util.Map.of("traceparent", "garbage"));
        JsonNode plain = receiveOne(untraced.body().get("assignee").asText());
        assertThat(plain.has("headers")).as("an invalid traceparent is not passed on").isFalse();
    }

    @Test
    void aWorkerReportsByMessage_andAFailureMovesTheTaskToTheOtherWorker() throws Exception {
        String id = call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"python\"],"
                + "\"max_retries\":1}").body().get("task_id").asText();
        String first = call("GET", "/api/v1/tasks/" + id, null).body().get("assignee").asText();
        String other = first.equals("py1") ? "py2" : "py1";
        receiveOne(first);

        call("POST", "/api/v1/messages", "{\"from\":\"" + first + "\",\"to\":\"swarmbus\",\"type\":\"task_response\","
                + "\"content\":{\"task_id\":\"" + id + "\",\"status\":\"failed\",\"error\":\"segfault\"}}");
        JsonNode moved = awaitStatus(id, "assigned");
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!moved.get("assignee").asText().equals(other) && System.nanoTime() < deadline) {
            Thread.sleep(50);
            moved = call("GET", "/api/v1/tasks/" + id, null).body();
        }
        receiveOne(other);
        call("POST", "/api/v1/messages", "{\"from\":\"" + other + "\",\"to\":\"swarmbus\",\"type\":\"task_response\","
                + "\"content\":{\"task_id\":\"" + id + "\",\"status\":\"completed\",\"result\":[1,2,3]}}");
        JsonNode done = awaitStatus(id, "completed");

        assertThat(moved.get("assignee").asText()).isEqualTo(other);
        assertThat(moved.get("failed_by").toString()).isEqualTo("[\"" + first + "\"]");
        assertThat(done.get("result").toString()).isEqualTo("[1,2,3]");
        assertThat(done.get("attempts").asInt()).isEqualTo(2);
    }

    /** Regression: seed 001's worker fails a task with an error_report to its sender, which was ignored. */
    @Test
    void anErrorReportNamingTheTask_asSeed001sWorkerSendsIt_failsTheAttempt() throws Exception {
        String id = call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"python\"],"
                + "\"max_retries\":0}").body().get("task_id").asText();
        String worker = call("GET", "/api/v1/tasks/" + id, null).body().get("assignee").asText();
        JsonNode request = receiveOne(worker);

        call("POST", "/api/v1/messages", "{\"from\":\"" + worker + "\",\"to\":\"" + request.get("from").asText()
                + "\",\"message_type\":\"error_report\",\"content\":{\"task_id\":\"" + id + "\","
                + "\"error_type\":\"task_execution_failure\",\"error_message\":\"disk full\"}}");
        JsonNode failed = awaitStatus(id, "failed");

        assertThat(failed.get("error").asText()).isEqualTo("disk full");
    }

    @Test
    void aReportByMessageThatCannotBeApplied_isAnsweredWithAnErrorReport() throws Exception {
        String id = call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"python\"]}")
                .body().get("task_id").asText();
        String worker = call("GET", "/api/v1/tasks/" + id, null).body().get("assignee").asText();
        receiveOne(worker);

        String report = call("POST", "/api/v1/messages", "{\"from\":\"" + worker + "\",\"to\":\"swarmbus\","
                + "\"type\":\"task_response\",\"content\":{\"task_id\":\"" + id + "\",\"status\":\"in_progress\","
                + "\"progress\":500}}").body().get("message_id").asText();
        JsonNode answer = receiveOne(worker);

        assertThat(answer.get("type").asText()).isEqualTo("error_report");
        assertThat(answer.get("from").asText()).isEqualTo("swarmbus");
        assertThat(answer.get("correlation_id").asText()).isEqualTo(report);
        assertThat(answer.get("content").get("error").asText()).isEqualTo("invalid_argument");
        assertThat(answer.get("content").get("message").asText()).contains("progress must be 0 to 100");
        assertThat(call("GET", "/api/v1/tasks/" + id, null).body().get("progress").asInt()).isZero();
    }

    @Test
    void aReportByMessageOnAnotherUsersTask_isAnsweredNotFound_withoutNamingItsAgent() throws Exception {
        String id = call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"python\"]}")
                .body().get("task_id").asText();
        String stranger = token("stranger");
        call(stranger, "POST", "/api/v1/agents", "{\"agent_id\":\"spy\"}");

        String report = call(stranger, "POST", "/api/v1/messages", "{\"from\":\"spy\",\"to\":\"swarmbus\","
                + "\"type\":\"task_response\",\"content\":{\"task_id\":\"" + id + "\",\"status\":\"completed\","
                + "\"result\":1}}").body().get("message_id").asText();
        JsonNode messages = call(stranger, "POST", "/api/v1/agents/spy/receive?timeout=5", null).body().get("messages");

        assertThat(messages).hasSize(1);
        assertThat(messages.get(0).get("correlation_id").asText()).isEqualTo(report);
        // Before, a 409 that told the stranger the task's status and which of team's agents ran it.
        assertThat(messages.get(0).get("content").get("error").asText()).isEqualTo("not_found");
        assertThat(messages.get(0).get("content").get("message").asText()).doesNotContain("py1", "py2", "assigned");
        assertThat(call("GET", "/api/v1/tasks/" + id, null).body().get("status").asText()).isEqualTo("assigned");
    }

    @Test
    void aResultByMessageTooLargeToReport_failsTheAttempt_ratherThanLeavingTheTaskRunning() throws Exception {
        String id = call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"python\"],"
                + "\"max_retries\":0}").body().get("task_id").asText();
        String worker = call("GET", "/api/v1/tasks/" + id, null).body().get("assignee").asText();
        receiveOne(worker);
        // Fits in the worker's message (1 MiB), not in the creator's report (1 MiB less 1 KiB).
        String result = "\"" + "r".repeat((1 << 20) - 1000) + "\"";

        Reply sent = call("POST", "/api/v1/messages", "{\"from\":\"" + worker + "\",\"to\":\"swarmbus\","
                + "\"type\":\"task_response\",\"content\":{\"task_id\":\"" + id + "\",\"status\":\"completed\","
                + "\"result\":" + result + "}}");
        JsonNode failed = awaitStatus(id, "failed");

        assertThat(sent.status()).as(sent.body().toString()).isEqualTo(201);
        assertThat(failed.get("error").asText()).contains("result could not be reported", "task_response");
    }

    @Test
    void cancel_subtasks_filters_andOtherUsers() throws Exception {
        String parent = call("POST", "/api/v1/tasks", "{\"type\":\"plan\"}").body().get("task_id").asText();
        String child = call("POST", "/api/v1/tasks", "{\"type\":\"step\",\"parent_id\":\"" + parent + "\","
                + "\"required_capabilities\":[\"rust\"]}").body().get("task_id").asText();
        Reply cancelled = call("POST", "/api/v1/tasks/" + child + "/cancel", "{\"reason\":\"plan changed\"}");
        String stranger = token("stranger");

        assertThat(call("GET", "/api/v1/tasks?parent_id=" + parent, null).body().get("tasks").get(0)
                .get("task_id").asText()).isEqualTo(child);
        assertThat(cancelled.body().get("status").asText()).isEqualTo("cancelled");
        assertThat(cancelled.body().get("error").asText()).isEqualTo("plan changed");
        Reply again = call("POST", "/api/v1/tasks/" + child + "/cancel", null);
        assertThat(again.status()).isEqualTo(409);
        assertThat(again.body().get("error").asText()).isEqualTo("invalid_state");
        assertThat(call("GET", "/api/v1/tasks?status=cancelled", null).body().get("count").asInt()).isEqualTo(1);
        assertThat(call(stranger, "GET", "/api/v1/tasks/" + parent, null).status()).isEqualTo(404);
        assertThat(call(stranger, "GET", "/api/v1/tasks", null).body().get("count").asInt()).isZero();
        assertThat(call(stranger, "POST", "/api/v1/tasks/" + parent + "/complete", "{\"agent_id\":\"py1\"}").status())
                .isEqualTo(404);
    }

    /**
     * Regression: an admin's task goes to any user's capable agent, and that agent's owner, who sees
     * the task, could cancel it for the admin rather than only fail it.
     */
    @Test
    void cancel_byTheOwnerOfTheAgentRunningAnAdminsTask_isForbidden_butFailingItIsNot() throws Exception {
        String admin = api.call(null, "POST", "/auth/token", "{\"username\":\"admin\",\"password\":\""
                + ServerSettings.forTests(dir).adminPassword().orElseThrow() + "\"}").body().get("access_token").asText();
        call("POST", "/api/v1/agents", "{\"agent_id\":\"go1\",\"capabilities\":[\"go\"]}");
        String id = call(admin, "POST", "/api/v1/tasks", "{\"type\":\"port\",\"required_capabilities\":[\"go\"],"
                + "\"max_retries\":0}").body().get("task_id").asText();
        assertThat(call("GET", "/api/v1/tasks/" + id, null).body().get("assignee").asText()).isEqualTo("go1");

        Reply cancelled = call("POST", "/api/v1/tasks/" + id + "/cancel", null);
        assertThat(cancelled.status()).isEqualTo(403);
        assertThat(cancelled.body().get("error").asText()).isEqualTo("forbidden");
        assertThat(cancelled.body().get("message").asText()).contains(id, "fail");
        assertThat(call(admin, "GET", "/api/v1/tasks/" + id, null).body().get("status").asText()).isEqualTo("assigned");
        Reply failed = call("POST", "/api/v1/tasks/" + id + "/fail", "{\"agent_id\":\"go1\",\"error\":\"no\"}");
        assertThat(failed.status()).as(failed.body().toString()).isEqualTo(200);
        String another = call(admin, "POST", "/api/v1/tasks", "{\"type\":\"port\",\"required_capabilities\":[\"go\"]}")
                .body().get("task_id").asText();
        assertThat(call(admin, "POST", "/api/v1/tasks/" + another + "/cancel", null).status()).as("an admin may")
                .isEqualTo(200);
        String own = call("POST", "/api/v1/tasks", "{\"type\":\"port\",\"required_capabilities\":[\"go\"]}")
                .body().get("task_id").asText();
        assertThat(call("POST", "/api/v1/tasks/" + own + "/cancel", null).status()).as("and its owner").isEqualTo(200);
    }

    @Test
    void broadcast_toARoleOrACapability_reachesEachMatchingAgentOnce() throws Exception {
        Reply toWorkers = call("POST", "/api/v1/messages/broadcast", "{\"from\":\"boss\",\"role\":\"worker\","
                + "\"content\":{\"standup\":true}}");
        Reply toPython = call("POST", "/api/v1/messages/broadcast", "{\"from\":\"boss\",\"capability\":\"python\","
                + "\"content\":\"hi\"}");
        Reply toSupervisors = call("POST", "/api/v1/messages/broadcast", "{\"from\":\"boss\",\"role\":\"supervisor\","
                + "\"content\":1}");

        assertThat(toWorkers.status()).isEqualTo(201);
        assertThat(toWorkers.body().get("agent_ids").toString()).isEqualTo("[\"py1\",\"py2\"]");
        assertThat(toPython.body().get("recipients").asInt()).isEqualTo(2);
        assertThat(toSupervisors.body().get("recipients").asInt()).as("the sender is left out").isZero();
        JsonNode got = call("POST", "/api/v1/agents/py1/receive?max_messages=10", null).body();
        assertThat(got.get("count").asInt()).isEqualTo(2);
        assertThat(call("POST", "/api/v1/agents/boss/receive", null).body().get("count").asInt()).isZero();

        // Regression: a repeat of the same key answered 201 without "duplicate", unlike any other send.
        String keyed = "{\"from\":\"boss\",\"role\":\"worker\",\"content\":2,\"idempotency_key\":\"k1\"}";
        Reply first = call("POST", "/api/v1/messages/broadcast", keyed);
        Reply repeat = call("POST", "/api/v1/messages/broadcast", keyed);
        assertThat(first.status()).isEqualTo(201);
        assertThat(first.body().get("duplicate").asBoolean()).isFalse();
        assertThat(repeat.status()).isEqualTo(200);
        assertThat(repeat.body().get("duplicate").asBoolean()).isTrue();
        assertThat(repeat.body().get("message_ids")).isEqualTo(first.body().get("message_ids"));
    }

    @Test
    void aBroadcastToEveryone_passesTheServersOwnAddressesBy() throws Exception {
        Reply sent = call("POST", "/api/v1/messages/broadcast", "{\"from\":\"boss\",\"content\":\"all hands\"}");

        assertThat(sent.status()).isEqualTo(201);
        assertThat(sent.body().get("recipients").asInt()).as(sent.body().toString()).isEqualTo(2);
        // Before, the llm address took it too and answered the sender with an error.
        assertThat(call("POST", "/api/v1/agents/boss/receive?timeout=1", null).body().get("count").asInt()).isZero();
    }

    @Test
    void broadcastToARole_withAnIdempotencyKey_reachesEachAgentOnce_andARetryNone() throws Exception {
        String body = "{\"from\":\"boss\",\"role\":\"worker\",\"content\":1,\"idempotency_key\":\"standup-7\"}";

        Reply first = call("POST", "/api/v1/messages/broadcast", body);
        Reply retry = call("POST", "/api/v1/messages/broadcast", body);

        assertThat(first.body().get("agent_ids").toString()).isEqualTo("[\"py1\",\"py2\"]");
        assertThat(retry.body().get("message_ids")).as("a retry answers the first ids").isEqualTo(first.body()
                .get("message_ids"));
        for (String worker : List.of("py1", "py2")) {
            assertThat(call("POST", "/api/v1/agents/" + worker + "/receive?max_messages=10", null).body()
                    .get("count").asInt()).as(worker + " got its copy, once").isEqualTo(1);
        }
    }

    @Test
    void badTasks_get400NamingTheField() throws Exception {
        assertThat(field(call("POST", "/api/v1/tasks", "{}"))).isEqualTo("type");
        assertThat(field(call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"max_retries\":-1}"))).isEqualTo("max_retries");
        assertThat(field(call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"timeout_seconds\":0}")))
                .isEqualTo("timeout_seconds");
        assertThat(field(call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"priority\":\"asap\"}"))).isEqualTo("priority");
        assertThat(field(call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"a b\"]}")))
                .isEqualTo("required_capabilities");
        assertThat(field(call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"strategy\":\"best\"}"))).isEqualTo("strategy");
        assertThat(call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"parent_id\":\"task-0\"}").status()).isEqualTo(404);
        JsonNode created = call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"python\"]}")
                .body();
        String id = created.get("task_id").asText();
        Reply tooLarge = call("POST", "/api/v1/tasks/" + id + "/complete", "{\"agent_id\":\""
                + created.get("assignee").asText() + "\",\"result\":\"" + "x".repeat(1_100_000) + "\"}");
        assertThat(tooLarge.status()).as("a result the creator's report could not carry").isEqualTo(413);
        assertThat(tooLarge.body().get("error").asText()).isEqualTo("message_too_large");
        assertThat(tooLarge.body().get("field").asText()).isEqualTo("result");
        assertThat(field(call("POST", "/api/v1/tasks/" + id + "/progress", "{\"agent_id\":\"py1\",\"progress\":101}")))
                .isEqualTo("progress");
        Reply notHis = call("POST", "/api/v1/tasks/" + id + "/complete", "{\"agent_id\":\"boss\"}");
        assertThat(notHis.status()).as("boss is not the assignee").isEqualTo(409);
        assertThat(notHis.body().get("error").asText()).isEqualTo("invalid_state");
    }

    @Test
    void aTaskOfADeletedAgent_doesNotFreeASlotOfTheIdRegisteredAgain() throws Exception {
        call("POST", "/api/v1/agents", "{\"agent_id\":\"solo\",\"capabilities\":[\"solo\"]}");
        String first = call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"solo\"]}")
                .body().get("task_id").asText();
        call("DELETE", "/api/v1/agents/solo", null);
        call("POST", "/api/v1/agents", "{\"agent_id\":\"solo\",\"capabilities\":[\"solo\"]}");
        JsonNode second = call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"solo\"]}").body();

        long deadline = System.nanoTime() + 10_000_000_000L;
        JsonNode moved = call("GET", "/api/v1/tasks/" + first, null).body();
        while (!moved.has("error") && System.nanoTime() < deadline) { // the next tick takes it from the old solo
            Thread.sleep(50);
            moved = call("GET", "/api/v1/tasks/" + first, null).body();
        }
        JsonNode agent = call("GET", "/api/v1/agents/solo", null).body();

        assertThat(second.get("assignee").asText()).isEqualTo("solo");
        assertThat(moved.get("error").asText()).contains("went offline");
        // Before, taking the first task back freed the new solo's one slot, and it was given both.
        assertThat(moved.get("status").asText()).as(moved.toString()).isEqualTo("pending");
        assertThat(moved.get("assignee").isNull()).as("no agent has a waiting retry").isTrue();
        assertThat(moved.get("failed_by").toString()).isEqualTo("[\"solo\"]");
        assertThat(agent.get("assigned_tasks").asInt()).isEqualTo(1);
        assertThat(call("GET", "/api/v1/tasks?assignee=solo&status=assigned", null).body().get("count").asInt())
                .isEqualTo(1);
    }

    @Test
    void taskStats_doNotGaugeAnAgentIdNowAnotherUsers() throws Exception {
        call("POST", "/api/v1/agents", "{\"agent_id\":\"hop\",\"capabilities\":[\"hop\"]}");
        String id = call("POST", "/api/v1/tasks", "{\"type\":\"x\",\"required_capabilities\":[\"hop\"]}")
                .body().get("task_id").asText();
        call("POST", "/api/v1/tasks/" + id + "/complete", "{\"agent_id\":\"hop\",\"result\":1}");
        call("DELETE", "/api/v1/agents/hop", null);
        String stranger = token("stranger");
        call(stranger, "POST", "/api/v1/agents", "{\"agent_id\":\"hop\"}");
        assertThat(call(stranger, "POST", "/api/v1/tasks", "{\"type\":\"theirs\"}").body().get("assignee").asText())
                .isEqualTo("hop");

        JsonNode hop = null;
        for (JsonNode agent : call("GET", "/api/v1/tasks/stats", null).body().get("agents")) {
            hop = agent.get("agent_id").asText().equals("hop") ? agent : hop;
        }

        assertThat(hop.get("completed").asInt()).isEqualTo(1);
        // Before, team saw how busy the stranger's hop is.
        assertThat(hop.get("utilization").asDouble()).isZero();
    }

    @Test
    void anAdminsSubtaskOfAUsersTask_isThatUsersAndGoesToTheirAgents() throws Exception {
        String admin = api.call(null, "POST", "/auth/token", "{\"username\":\"admin\",\"password\":\""
                + ServerSettings.forTests(dir).adminPassword().orElseThrow() + "\"}").body().get("access_token").asText();
        String parent = call("POST", "/api/v1/tasks", "{\"type\":\"epic\",\"required_capabilities\":[\"none\"]}")
                .body().get("task_id").asText();

        Reply sub = call(admin, "POST", "/api/v1/tasks", "{\"type\":\"story\",\"parent_id\":\"" + parent + "\","
                + "\"required_capabilities\":[\"python\"]}");
        JsonNode children = call("GET", "/api/v1/tasks?parent_id=" + parent, null).body().get("tasks");
        Reply nowhere = call(admin, "POST", "/api/v1/tasks", "{\"type\":\"story\",\"parent_id\":\"task-nope\"}");
        // The server's own inbox is no agent: such a candidate once made a task that waited forever.
        Reply serversOwn = call(admin, "POST", "/api/v1/tasks", "{\"type\":\"story\",\"candidates\":[\"swarmbus\"]}");
        Reply ghost = call(admin, "POST", "/api/v1/tasks", "{\"type\":\"story\",\"candidates\":[\"ghost\"]}");

        // Before, the admin's subtask was a 404 "parent task does not exist".
        assertThat(sub.status()).as(sub.body().toString()).isEqualTo(201);
        assertThat(sub.body().get("assignee").asText()).as("one of the parent's owner's agents").isIn("py1", "py2");
        assertThat(children).hasSize(1);
        assertThat(children.get(0).get("task_id").asText()).isEqualTo(sub.body().get("task_id").asText());
        assertThat(nowhere.status()).isEqualTo(404);
        assertThat(serversOwn.status()).as(serversOwn.body().toString()).isEqualTo(404);
        assertThat(ghost.body().get("message").asText()).isEqualTo("agent 'ghost' not found");
    }

    static String field(Reply reply) {
        assertThat(reply.status()).as(reply.body().toString()).isEqualTo(400);
        return reply.body().get("field").asText();
    }
}
