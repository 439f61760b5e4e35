package io.swarmbus.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.llm.LlmGateway;
import io.swarmbus.llm.OpenAiWire;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.URIUtil;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The OpenAI-compatible API ({@code /v1/chat/completions}, {@code /v1/completions},
 * {@code /v1/embeddings}, {@code /v1/models}, {@code /v1/models/{model}}) on Jetty's core API, in
 * front of Javalin: on the main port it answers those five routes and passes every other request
 * on; on the gateway's own port (ADR 0005) it answers everything, the five routes and 404s. Same authentication, rate
 * limits, errors, metrics and audit as the routes behind it; what it leaves out is the servlet
 * layer and Javalin, through which a call cost the server 25–72% more CPU (ADR 0006,
 * docs/benchmarks.md). These routes never pass Javalin's filters ({@link HttpServer}): what is
 * added there for every request must be added here too.
 *
 * <p>On the main port a call runs on the virtual thread Jetty gave it. On the gateway port it
 * runs on the platform thread that read it while at most half of the port's pool is busy; past
 * that it runs on a virtual thread, so slow models can hold any number of calls without
 * starving the port.
 */
final class GatewayHandler extends Handler.Wrapper {
    private static final Set<String> CALLS = Set.of("/v1/chat/completions", "/v1/completions", "/v1/embeddings");
    private static final String MODELS = "/v1/models";
    /** One model; its id is the rest of the path, since ids such as {@code meta-llama/Llama-3-8B} hold slashes. */
    private static final String MODEL = "/v1/models/{model}";
    private static final ExecutorService VIRTUAL = Executors.newVirtualThreadPerTaskExecutor();

    private final AtomicReference<ServerConnector> connector;
    private final QueuedThreadPool pool;
    private final LlmRoutes routes;
    private final Auth auth;
    private final Metrics metrics;
    private final AuditLog audit;
    private final long maxRequestBytes;
    private final LongAdder movedToVirtualThreads = new LongAdder();

    /**
     * @param connector the gateway port's connector, set once the server has made it; stays
     *     empty when there is no such port
     * @param pool its threads, or null
     */
    GatewayHandler(AtomicReference<ServerConnector> connector, QueuedThreadPool pool, LlmRoutes routes, Auth auth,
            Metrics metrics, AuditLog audit, long maxRequestBytes) {
        this.connector = connector;
        this.pool = pool;
        this.routes = routes;
        this.auth = auth;
        this.metrics = metrics;
        this.audit = audit;
        this.maxRequestBytes = maxRequestBytes;
    }

    /** Calls that continued on a virtual thread because the port's pool was more than half busy. */
    long movedToVirtualThreads() {
        return movedToVirtualThreads.sum();
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
        boolean gatewayPort = request.getConnectionMetaData().getConnector() == connector.get();
        if (!gatewayPort && routeOf(request.getHttpURI().getPath()) == null) {
            return super.handle(request, response, callback);
        }
        if (gatewayPort && pool.getBusyThreads() * 2 > pool.getMaxThreads()) {
            movedToVirtualThreads.increment();
            VIRTUAL.execute(() -> serve(request, response, callback));
        } else {
            serve(request, response, callback);
        }
        return true;
    }

    private void serve(Request request, Response response, Callback callback) {
        long started = System.nanoTime();
        request.setAttribute(JsonErrorHandler.RECORDED, Boolean.TRUE); // counted below, whatever fails
        String method = request.getMethod();
        String path = request.getHttpURI().getPath();
        String route = "unmatched";
        String principal = "-";
        try {
            route = route(method, path);
            HttpFields headers = request.getHeaders();
            Auth.Principal caller = auth.admit(headers.get("X-Api-Key"), headers.get(HttpHeader.AUTHORIZATION),
                    (name, value) -> response.getHeaders().put(name, value));
            principal = caller.name();
            if (route.equals(MODELS)) {
                List<ObjectNode> models = routes.gateway().modelList().stream().map(GatewayHandler::model).toList();
                CoreHttp.json(response, 200, OpenAiWire.models(models), callback);
                return;
            }
            if (route.equals(MODEL)) {
                CoreHttp.json(response, 200, model(routes.gateway().model(modelId(path))), callback);
                return;
            }
            CoreSink sink = new CoreSink(response);
            byte[] body = CoreHttp.body(request, maxRequestBytes);
            routes.gateway().handle(routes.request(caller, body, headers::get, route), sink);
            if (sink.cut != null) {
                callback.failed(new EofException(sink.cut)); // aborts: the client sees a broken stream
            } else {
                callback.succeeded();
            }
        } catch (LlmGateway.Refused refused) {
            audit.error(refused.code(), refused.status(), refused.getMessage(), method, path);
            if (refused.retryAfterSeconds() > 0) {
                response.getHeaders().put(HttpHeader.RETRY_AFTER, refused.retryAfterSeconds());
            }
            CoreHttp.json(response, refused.status(), LlmRoutes.refusal(refused), callback);
        } catch (SwarmbusException e) {
            CoreHttp.refuse(response, method, path, e, audit, callback);
        } catch (IOException e) {
            callback.failed(e); // the client went away
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // the server is stopping
            callback.failed(e);
        } catch (RuntimeException e) {
            CoreHttp.internal(response, method, path, e, audit, callback);
        } finally {
            metrics.record(method, route, response.getStatus(), System.nanoTime() - started);
            HttpServer.logAccess(method, route, response.getStatus(), principal);
        }
    }

    private static ObjectNode model(LlmGateway.Model model) {
        return OpenAiWire.model(model.id(), model.created(), "swarmbus");
    }

    /** One of the five routes, for {@code path} with or without a trailing slash; else null. */
    private static String routeOf(String path) {
        String route = withoutTrailingSlash(path);
        if (route.startsWith(MODELS + "/")) {
            return MODEL;
        }
        return CALLS.contains(route) || route.equals(MODELS) ? route : null;
    }

    private static String withoutTrailingSlash(String path) {
        return path.length() > 4 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
    }

    /** The model id a {@link #MODEL} path names, decoded: {@code %2F} as well as {@code /} separates its parts. */
    private static String modelId(String path) {
        return URIUtil.decodePath(withoutTrailingSlash(path).substring(MODELS.length() + 1));
    }

    /** The route a request is for; throws 404 (only on the gateway port) or 405 when there is none. */
    private String route(String method, String path) {
        String route = routeOf(path);
        if (route == null) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "port " + connector.get().getLocalPort()
                    + " serves the OpenAI-compatible API only (POST /v1/chat/completions, /v1/completions, "
                    + "/v1/embeddings; GET /v1/models, /v1/models/{model}); " + path + " is on the main port");
        }
        // HEAD as for every other GET route: Jetty sends the head GET would, without the body.
        boolean read = route.equals(MODELS) || route.equals(MODEL);
        boolean allowed = read ? method.equals("GET") || method.equals("HEAD") : method.equals("POST");
        if (!allowed) {
            throw new NotAllowed(method, path, read ? "GET, HEAD" : "POST");
        }
        return route;
    }

    /** Writes the gateway's answer to the response, each piece flushed before the next is read. */
    private static final class CoreSink implements LlmGateway.Sink {
        private final Response response;
        private String cut;

        CoreSink(Response response) {
            this.response = response;
        }

        @Override
        public void start(int status, String contentType) {
            response.setStatus(status);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
            if (contentType.startsWith("text/event-stream")) {
                response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
                response.getHeaders().put("X-Accel-Buffering", "no");
            }
        }

        @Override
        public void write(byte[] bytes) throws IOException {
            write(false, bytes);
        }

        @Override
        public void cut(String reason) {
            cut = reason;
        }

        /** With a Content-Length, head and body leave in one write, without chunk framing. */
        @Override
        public void answer(int status, String contentType, byte[] body) throws IOException {
            response.setStatus(status);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
            response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
            write(true, body);
        }

        private void write(boolean last, byte[] bytes) throws IOException {
            try (Blocker.Callback written = Blocker.callback()) {
                response.write(last, ByteBuffer.wrap(bytes), written);
                written.block();
            }
        }
    }
}
