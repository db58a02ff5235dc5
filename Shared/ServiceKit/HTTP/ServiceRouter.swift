package import Hummingbird
package import ServiceAuth
import Synchronization

/// The router every service registers its routes on: Hummingbird's `Router` with the platform's middleware, two route
/// groups, and the 405 answer Hummingbird lacks.
///
/// - ``protected``: the default for every route; a caller without a valid bearer token gets 401.
/// - ``public``: the few routes that must work without a token (`/register`, `/login`, `/health`, `/ready`, `/metrics`).
///
/// Hummingbird answers a known path with an unknown method as 404. This router records the methods of every path
/// as routes are added, and when the application is built it registers, for each path, a responder for every other
/// common method that answers 405 with an `Allow` header, through Hummingbird's own route matching.
package final class ServiceRouter<Context: AuthenticatedRequestContext>: RouterMethods, HTTPResponderBuilder {
    package let router: Router<Context>
    private let methodsByPath = Mutex<[String: (path: RouterPath, methods: Set<HTTPRequest.Method>)]>([:])

    /// Creates the router with the shared middleware in order: request id (outermost, so even errors carry it),
    /// tracing, access log, metrics, error envelope, then token verification. `instanceID` names this replica in
    /// every response (`X-Instance-ID`), when given.
    package init(authority: TokenAuthority, instanceID: String? = nil, context: Context.Type = Context.self) {
        self.router = Router(context: Context.self)
        self.router.add(middleware: RequestIDMiddleware(instanceID: instanceID))
        // A server span per request, child of the caller's `traceparent` (a no-op when tracing is off).
        self.router.add(middleware: TracingMiddleware())
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
        _ = self.methodsByPath.withLock { table in
            table[path.description, default: (path: path, methods: [])].methods.insert(method)
        }
        self.router.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult
    package func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        self.router.add(middleware: middleware)
        return self
    }

    /// Adds the 405 responders, then builds Hummingbird's responder. Call once, after every route is registered
    /// (the `Application` initialiser does).
    package func buildResponder() -> RouterResponder<Context> {
        let table = self.methodsByPath.withLock { $0 }
        for (path, methods) in table.values {
            var allowed = methods
            if allowed.contains(.get) { allowed.insert(.head) }
            let allow = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            for method in Self.answeredMethods where !allowed.contains(method) {
                self.router.on(path, method: method) { request, _ -> Response in
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

    private static var answeredMethods: [HTTPRequest.Method] { [.get, .post, .put, .patch, .delete, .options] }
}
