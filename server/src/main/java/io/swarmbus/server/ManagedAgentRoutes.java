package io.swarmbus.server;

import io.javalin.http.Context;
import java.time.Clock;
import java.util.List;
import java.util.Map;

/**
 * Managed LLM agent pools over HTTP, at {@code /api/v1/managed-agents}: create (201), list, get,
 * set the replica count and bounds, delete. Owner-scoped: a user sees and changes only their own
 * pools; admins see all.
 */
final class ManagedAgentRoutes {
    private final ManagedAgents managed;
    private final Clock clock;

    ManagedAgentRoutes(ManagedAgents managed, Clock clock) {
        this.managed = managed;
        this.clock = clock;
    }

    void create(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        ManagedTemplate template = ManagedTemplate.from(RequestBody.parse(Http.body(ctx)), principal.name(),
                clock.instant());
        Http.json(ctx, 201, managed.create(template));
    }

    void list(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        List<?> pools = managed.list(principal.name(), principal.admin());
        Http.json(ctx, 200, Map.of("managed_agents", pools, "total_count", pools.size()));
    }

    void get(Context ctx) {
        Http.json(ctx, 200, pool(ctx).toJson());
    }

    /** {@code PUT …/{name}/replicas}: {@code replicas}, {@code min_replicas}, {@code max_replicas}, each optional. */
    void scale(Context ctx) {
        ManagedPool pool = pool(ctx);
        RequestBody body = RequestBody.parse(Http.body(ctx));
        ManagedTemplate now = pool.template();
        int min = body.integer("min_replicas").orElse(now.minReplicas());
        int max = body.integer("max_replicas").orElse(now.maxReplicas());
        int replicas = body.integer("replicas").orElse(Math.clamp(now.replicas(), Math.min(min, max), Math.max(min, max)));
        Http.json(ctx, 200, managed.scale(pool, replicas, min, max));
    }

    void delete(Context ctx) {
        ManagedPool pool = pool(ctx);
        managed.delete(pool);
        Http.json(ctx, 200, Map.of("deleted", pool.template().name()));
    }

    private ManagedPool pool(Context ctx) {
        Auth.Principal principal = Auth.principal(ctx);
        return managed.require(ctx.pathParam("name"), principal.name(), principal.admin());
    }
}
