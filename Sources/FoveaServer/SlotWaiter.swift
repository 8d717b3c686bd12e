import Foundation
import NIOCore

/// One blocked request's wait for a slot: resumed once (an instance, or nil), waited on by its thread.
final class SlotWaiter: @unchecked Sendable {
    private let cond = NSCondition()
    private var done = false
    var given: Instance?

    func resume(_ i: Instance?) {
        cond.lock()
        if !done { done = true; given = i }
        cond.signal()
        cond.unlock()
    }

    /// The instance once resumed; nil if resumed with nil, or if `deadline` passes first (then still pending).
    func wait(until deadline: NIODeadline?) -> Instance? {
        cond.lock()
        defer { cond.unlock() }
        while !done {
            if let deadline {
                let left = Double(Int64(deadline.uptimeNanoseconds) - Int64(NIODeadline.now().uptimeNanoseconds)) / 1e9
                if left <= 0 || !cond.wait(until: Date().addingTimeInterval(left)) && NIODeadline.now() >= deadline { return nil }
            } else {
                cond.wait()
            }
        }
        return given
    }
}
