import Hummingbird
import NIOCore

/// The ceiling of `scripts/bench`: a bare Hummingbird 2 server answering `GET /get/{id}` with a fixed product
/// document of the size the product service returns. No store, no middleware, no logging: what one route costs on
/// this machine, so that the services' throughput can be read as a fraction of it.
///
///     bench-ceiling [PORT]      (default 4999, on 127.0.0.1)
let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 4999
let body = ByteBuffer(
    string: #"""
        {"_id":"6650a1b2c3d4e5f601234567","name":"Espresso cup","description":"A small cup for a short coffee",\#
        "category":"kitchen","price":8.5,"inventory":100000,"createdAt":"2026-11-29T17:00:00.000Z"}
        """#
)

let router = Router()
router.get("get/:id") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
