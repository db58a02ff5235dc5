package import Hummingbird
package import ServiceAuth
import Synchronization

/// The router every service registers its routes on: Hummingbird's `Router` with the platform's middleware, two route
/// groups, and the 405 answer Hummingbird lacks.
///
/// - ``protected``: the default for every route; a caller without a valid bearer token gets 401.
/// - ``public``: the few routes that must work without a token (`/register`, `/login`, `/health`, `/ready`, `/metrics`).
///
/// Hummingbird answers a known path with an unknown method as 404, and `HEAD` on a `GET` route too. This router
/// records the methods of every path as routes are added, and when the application is built it registers, for each
/// path, `HEAD` where it has `GET` (the `GET` route's answer without its body, as HTTP requires of every server), and
/// for every other common method a responder that answers 405 with an `Allow` header, through Hummingbird's own route
/// matching.
package final class ServiceRouter<Context: AuthenticatedRequestContext>: RouterMethods, HTTPResponderBuilder {
    private struct PathRoutes {
        var path: RouterPath
        var methods: Set<HTTPRequest.Method> = []
        /// The `GET` route's responder, with its group's middleware: `HEAD` runs it.
        var get: (any HTTPResponder<Context>)?
    }

    package let router: Router<Context>
    private let routesByPath = Mutex<[String: PathRoutes]>([:])

    /// Creates the router with the shared middleware in order: request id (outermost, so even errors carry it),
    /// tracing (only when a tracer is installed), access log, metrics, error envelope, then token verification.
    /// `instanceID` names this replica in every response (`X-Instance-ID`), when given.
    package init(authority: TokenAuthority, instanceID: String? = nil, context: Context.Type = Context.self) {
        self.router = Router(context: Context.self)
        self.router.add(middleware: RequestIDMiddleware(instanceID: instanceID))
        // A server span per request, child of the caller's `traceparent`; none at all when tracing is off.
        if TraceContext.isEnabled { self.router.add(middleware: TracingMiddleware()) }
        self.router.add(middleware: AccessLogMiddleware())
        self.router.add(middleware: MetricsMiddleware())
        self.router.add(middleware: ErrorMiddleware())
        self.router.add(middleware: JWTAuthenticator(authority: authority))
    }

    /// Routes that need no token.
    package var `public`: RouterGroup<Context> { self.group() }

    /// Routes that need a verified caller (every route that is not explicitly public).
    package var protected: RouterGroup<Context> {
        self.group().add(middleware: RequireAuthenticationMiddleware())
    }

    @discardableResult
    package func on<Responder: HTTPResponder>(
        _ path: RouterPath,
        method: HTTPRequest.Method,
        responder: Responder
    ) -> Self where Responder.Context == Context {
        self.routesByPath.withLock { table in
            table[path.description, default: PathRoutes(path: path)].methods.insert(method)
            if method == .get { table[path.description]?.get = responder }
        }
        self.router.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult
    package func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        self.router.add(middleware: middleware)
        return self
    }

    /// Adds the `HEAD` and 405 responders, then builds Hummingbird's responder. Call once, after every route is
    /// registered (the `Application` initialiser does).
    package func buildResponder() -> RouterResponder<Context> {
        let table = self.routesByPath.withLock { $0 }
        for routes in table.values {
            var allowed = routes.methods
            if let get = routes.get, !allowed.contains(.head) {
                allowed.insert(.head)
                self.router.on(routes.path, method: .head) { request, context -> Response in
                    try await get.respond(to: request, context: context).createHeadResponse()
                }
            }
            let allow = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            for method in Self.answeredMethods where !allowed.contains(method) {
                self.router.on(routes.path, method: method) { request, _ -> Response in
                    throw APIError(
                        .methodNotAllowed,
                        code: "method_not_allowed",
                        message: "\(request.method) is not allowed on \(request.uri.path); allowed: \(allow)",
                        headers: [.allow: allow]
                    )
                }
            }
        }
        return self.router.buildResponder()
    }

    private static var answeredMethods: [HTTPRequest.Method] {
        [.get, .head, .post, .put, .patch, .delete, .options, .trace]
    }
}
