import Foundation
import Hummingbird
import Logging
import MongoStore
import ServiceAuth
import ServiceKit

/// The user service: routes, the producer and outbox relay, and at startup the indexes, the outbox and the admin
/// account. Wiring only.
func buildApplication(_ runtime: ServiceRuntime) async throws -> some ApplicationProtocol {
    let settings = try UserSettings(runtime)
    let producer = try runtime.makeProducer()
    let relay = try runtime.makeOutboxRelay(producer: producer)
    let repository = UserRepository(store: runtime.store, relay: relay)
    let hasher = try await PasswordHasher(cost: settings.bcryptCost)
    let router = runtime.makeRouter(apiDocument: PackageResources.openapi_json)
    UserController(repository: repository, hasher: hasher, authority: runtime.authority).addRoutes(to: router)
    let logger = runtime.logger
    return runtime.makeApplication(router: router, services: [producer, relay]) {
        try await repository.prepare()
        try await AdminBootstrap.run(settings: settings, repository: repository, hasher: hasher, logger: logger)
    }
}
