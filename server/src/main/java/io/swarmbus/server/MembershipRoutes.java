package io.swarmbus.server;

import io.javalin.http.Context;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.MessageBus;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Groups, topic subscriptions, users and API keys over HTTP. */
final class MembershipRoutes {
    private final MessageBus bus;
    private final Auth auth;

    MembershipRoutes(MessageBus bus, Auth auth) {
        this.bus = bus;
        this.auth = auth;
    }

    /** {@code POST /api/v1/groups} and the seed's {@code POST /groups}: {@code {"group_name", "agent_ids"}}. */
    void createGroup(Context ctx) {
        RequestBody body = RequestBody.parse(Http.body(ctx));
        String name = body.text("group_name");
        Http.requireNameableInPath("group_name", "group name", name);
        RequestBody.from("group_name", () -> Address.checkName("group", name));
        Auth.Principal principal = Auth.principal(ctx);
        synchronized (this) {
            bus.createGroup(name, body.agents("agent_ids"));
            try {
                auth.store().setGroupOwner(name, principal.name());
            } catch (SwarmbusException e) { // an ownerless group would be no one's but the admins'
                bus.deleteGroup(name);
                throw e;
            }
        }
        Http.json(ctx, 201, group(name));
    }

    void getGroup(Context ctx) {
        String name = ctx.pathParam("name");
        auth.requireGroupOwner(Auth.principal(ctx), name);
        if (bus.groupMembers(name).isEmpty()) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "group '" + name + "' does not exist");
        }
        Http.json(ctx, 200, group(name));
    }

    void listGroups(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        Http.json(ctx, 200, Views.list("groups", bus.groups().stream().sorted()
                .filter(g -> principal.admin() || auth.store().ownerOfGroup(g).map(principal.name()::equals).orElse(false))
                .map(this::group).toList()));
    }

    void deleteGroup(Context ctx) {
        String name = ctx.pathParam("name");
        auth.requireGroupOwner(Auth.principal(ctx), name);
        bus.deleteGroup(name);
        auth.store().removeGroup(name);
        Http.json(ctx, 200, Map.of("group_name", name, "status", "deleted"));
    }

    void join(Context ctx) {
        changeMembership(ctx, bus::joinGroup);
    }

    /**
     * Removes a member, for the group's owner, or for the member's own owner: groups may hold other
     * users' agents (the seed's walk-through groups agents of several users, as a send may reach
     * any agent), and their owners must be able to take them out. The member's owner sees only
     * that the agent left, not who else is in the group.
     */
    void leave(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        String name = ctx.pathParam("name");
        AgentId agent = AgentId.of(ctx.pathParam("agent"));
        if (!auth.ownsGroup(principal, name) && auth.owns(principal, agent)
                && bus.groupMembers(name).map(members -> members.contains(agent)).orElse(false)) {
            boolean changed = bus.leaveGroup(name, agent);
            Http.json(ctx, 200, Map.of("group_name", name, "agent_id", agent.value(), "changed", changed));
            return;
        }
        changeMembership(ctx, bus::leaveGroup);
    }

    /** Adds or removes the path's agent for the group's owner; answers the group and whether it changed. */
    private void changeMembership(Context ctx, java.util.function.BiPredicate<String, AgentId> change) {
        String name = ctx.pathParam("name");
        auth.requireGroupOwner(Auth.principal(ctx), name);
        boolean changed = change.test(name, AgentId.of(ctx.pathParam("agent")));
        Map<String, Object> view = group(name);
        view.put("changed", changed);
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
        AgentId agent = RequestBody.parse(Http.body(ctx)).agent("agent_id");
        auth.requireOwner(Auth.principal(ctx), agent);
        boolean added = bus.subscribe(agent, topic);
        Map<String, Object> view = topic(ctx, topic);
        view.put("changed", added);
        Http.json(ctx, added ? 201 : 200, view);
    }

    void unsubscribe(Context ctx) {
        String topic = Address.checkName("topic", ctx.pathParam("topic"));
        AgentId agent = AgentId.of(ctx.pathParam("agent"));
        auth.requireOwner(Auth.principal(ctx), agent);
        boolean removed = bus.unsubscribe(agent, topic);
        Map<String, Object> view = topic(ctx, topic);
        view.put("changed", removed);
        Http.json(ctx, 200, view);
    }

    void getTopic(Context ctx) {
        Http.json(ctx, 200, topic(ctx, Address.checkName("topic", ctx.pathParam("topic"))));
    }

    /** {@code POST /api/v1/users} (admin): {@code {"username", "password", "admin": false}}. */
    void addUser(Context ctx) {
        Auth.requireAdmin(Auth.principal(ctx));
        RequestBody body = RequestBody.parse(Http.body(ctx));
        AccessStore.User user = auth.addUser(body.text("username"), body.text("password"), body.flag("admin"));
        Http.json(ctx, 201, Map.of("username", user.name(), "admin", user.admin()));
    }

    /** {@code POST /api/v1/api-keys} (admin): a new admin API key, shown once. */
    void addApiKey(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        Auth.requireAdmin(principal);
        // A key has no name, scope or expiry to set: one asked for would be a stronger key than meant.
        RequestBody.parse(Http.body(ctx)).anyField().ifPresent(field -> {
            throw SwarmbusException.invalid(field, "an API key takes no fields (it is an admin key, with no name, "
                    + "scope or expiry); send {} or no body");
        });
        Http.json(ctx, 201, Map.of("api_key", auth.store().newApiKey(principal.name()),
                "note", "store it now: only its hash is kept"));
    }

    /** A topic with those of its subscribers the caller owns: other users' agents stay unnamed. */
    private Map<String, Object> topic(Context ctx, String topic) {
        Auth.Principal principal = Auth.principal(ctx);
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("topic", topic);
        view.put("subscribers", bus.subscribers(topic).stream().filter(agent -> auth.owns(principal, agent))
                .sorted().map(AgentId::value).toList());
        return view;
    }
}
