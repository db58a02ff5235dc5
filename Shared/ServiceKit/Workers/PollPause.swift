/// The pause of a request that polls the store while another request for the same thing (the same order's charge or
/// reservation) finishes: 20 ms, doubling up to 640 ms. Many waiters polling every 20 ms would keep the store busy
/// enough to delay the very work they wait for.
package struct PollPause: Sendable {
    private var next = Duration.milliseconds(20)
    private static let longest = Duration.milliseconds(640)

    package init() {}

    /// Sleeps for the current pause, then makes the next one longer.
    /// - Throws: `CancellationError` when the task is cancelled.
    package mutating func sleep() async throws {
        try await Task.sleep(for: self.next)
        self.next = min(self.next * 2, Self.longest)
    }
}
