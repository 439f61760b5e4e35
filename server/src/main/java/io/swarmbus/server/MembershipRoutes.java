package io.swarmbus.server;

import io.javalin.http.Context;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.MessageBus;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Agents' inboxes, groups and topic subscriptions over HTTP. */
final class MembershipRoutes {
    private final MessageBus bus;

    MembershipRoutes(MessageBus bus) {
        this.bus = bus;
    }

    /** {@code POST /api/v1/agents} and the seed's {@code POST /agents/register}: {@code {"agent_id": ...}}. */
    void register(Context ctx) {
        RequestBody body = RequestBody.parse(ctx.bodyAsBytes());
        AgentId agent = body.agent("agent_id");
        body.optionalText("description");
        boolean created = bus.createInbox(agent);
        Map<String, Object> view = new LinkedHashMap<>(Views.inbox(bus.inboxStats(agent)));
        view.put("status", created ? "registered" : "already_registered");
        Http.json(ctx, created ? 201 : 200, view);
    }

    void list(Context ctx) {
        List<Map<String, Object>> views = bus.inboxes().stream().sorted()
                .map(agent -> Views.inbox(bus.inboxStats(agent))).toList();
        Http.json(ctx, 200, Views.list("agents", views));
    }

    void get(Context ctx, AgentId agent) {
        Http.json(ctx, 200, Views.inbox(bus.inboxStats(agent)));
    }

    void delete(Context ctx, AgentId agent) {
        bus.deleteInbox(agent);
        Http.json(ctx, 200, Map.of("agent_id", agent.value(), "status", "deleted"));
    }

    /** {@code POST /api/v1/groups} and the seed's {@code POST /groups}: {@code {"group_name", "agent_ids"}}. */
    void createGroup(Context ctx) {
        RequestBody body = RequestBody.parse(ctx.bodyAsBytes());
        String name = body.text("group_name");
        bus.createGroup(name, body.agents("agent_ids"));
        Http.json(ctx, 201, group(name));
    }

    void getGroup(Context ctx) {
        String name = ctx.pathParam("name");
        if (bus.groupMembers(name).isEmpty()) {
            throw new io.swarmbus.SwarmbusException(io.swarmbus.ErrorCode.NOT_FOUND, "group '" + name + "' does not exist");
        }
        Http.json(ctx, 200, group(name));
    }

    void listGroups(Context ctx) {
        Http.json(ctx, 200, Views.list("groups", bus.groups().stream().sorted().map(this::group).toList()));
    }

    void deleteGroup(Context ctx) {
        bus.deleteGroup(ctx.pathParam("name"));
        Http.json(ctx, 200, Map.of("group_name", ctx.pathParam("name"), "status", "deleted"));
    }

    void join(Context ctx) {
        String name = ctx.pathParam("name");
        boolean added = bus.joinGroup(name, AgentId.of(ctx.pathParam("agent")));
        Map<String, Object> view = group(name);
        view.put("changed", added);
        Http.json(ctx, 200, view);
    }

    void leave(Context ctx) {
        String name = ctx.pathParam("name");
        boolean removed = bus.leaveGroup(name, AgentId.of(ctx.pathParam("agent")));
        Map<String, Object> view = group(name);
        view.put("changed", removed);
        Http.json(ctx, 200, view);
    }

    private Map<String, Object> group(String name) {
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("group_name", name);
        view.put("agent_ids", bus.groupMembers(name).orElseThrow().stream().sorted().map(AgentId::value).toList());
        return view;
    }

    /** {@code POST /api/v1/topics/{topic}/subscribers}: {@code {"agent_id": ...}}. */
    void subscribe(Context ctx) {
        String topic = ctx.pathParam("topic");
        boolean added = bus.subscribe(RequestBody.parse(ctx.bodyAsBytes()).agent("agent_id"), topic);
        Map<String, Object> view = topic(topic);
        view.put("changed", added);
        Http.json(ctx, added ? 201 : 200, view);
    }

    void unsubscribe(Context ctx) {
        String topic = ctx.pathParam("topic");
        boolean removed = bus.unsubscribe(AgentId.of(ctx.pathParam("agent")), topic);
        Map<String, Object> view = topic(topic);
        view.put("changed", removed);
        Http.json(ctx, 200, view);
    }

    void getTopic(Context ctx) {
        Http.json(ctx, 200, topic(ctx.pathParam("topic")));
    }

    private Map<String, Object> topic(String topic) {
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("topic", topic);
        view.put("subscribers", bus.subscribers(topic).stream().sorted().map(AgentId::value).toList());
        return view;
    }
}
