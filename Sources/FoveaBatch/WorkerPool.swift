import Foundation
import FoveaServer

/// The job's worker processes and the mini-batches in flight. One thread (the caller's) schedules; one reader
/// thread per worker turns its stdout lines into events. A mini-batch that fails (its worker crashed or timed out)
/// is retried `max_retries` times; then its images are run one by one, so that one image that kills the worker fails
/// alone.
final class WorkerPool {
    struct Work { var mb: Int; var items: [Int]; var single: Bool; var seq = 0 }
    /// Mini-batches handed to a worker at once: the next one waits in its stdin while it computes, so it never idles
    /// for a round trip through the job between two mini-batches.
    static let depth = 2
    enum Event { case reply(Int, BatchWorker.Reply), exited(Int, Int32, Bool) }

    final class Slot {
        let id: Int
        var process: Process?
        var input: FileHandle?
        /// In flight, in order: the head is being computed (since `started`), the rest wait in the worker's stdin.
        var queue: [Work] = []
        var started = Date()
        var generation = 0
        init(id: Int) { self.id = id }
    }

    let job: BatchJob
    var slots: [Slot]
    let cond = NSCondition()
    var events: [Event] = []

    init(job: BatchJob, count: Int) {
        self.job = job
        slots = (0..<count).map { Slot(id: $0) }
    }

    /// Returns nil when everything it was given is done; else why it stopped. `onPart` gets each finished
    /// mini-batch's records (after its part is on disk) and returns false to stop the job.
    func run(todo: [Int], cancelled: () -> Bool, onPart: ([ItemRecord]) -> Bool) throws -> BatchJob.Outcome? {
        let B = job.spec.miniBatchSize
        var pending = todo.map { Work(mb: $0, items: Array(job.manifest.range($0, size: B)), single: false) }
        pending.reverse()  // popLast takes the lowest mini-batch first
        var attempts: [Int: Int] = [:]
        var singles: [Int: (left: Int, records: [ItemRecord])] = [:]
        var lastFailure: [Int: String] = [:]
        defer { shutdown() }

        func finishPart(_ mb: Int, _ records: [ItemRecord]) throws -> Bool {
            try job.folder.writePart(mb, records)
            return onPart(records)
        }
        /// A mini-batch (or one of its images run alone) failed as a whole.
        func failed(_ w: Work, _ why: String) throws -> Bool {
            if w.single {
                var r = ItemRecord(i: w.items[0], ok: false)
                r.error = why
                return try addSingle(w.mb, [r])
            }
            attempts[w.mb, default: 0] += 1
            lastFailure[w.mb] = why
            let n = attempts[w.mb]!
            if n <= job.o.settings.maxRetries {
                job.log.warning("mini-batch \(w.mb): \(why); retry \(n) of \(job.o.settings.maxRetries)")
                pending.append(w)
                return true
            }
            if w.items.count == 1 {
                var r = ItemRecord(i: w.items[0], ok: false)
                r.error = "\(why) (\(n) attempts)"
                r.attempts = n
                return try finishPart(w.mb, [r])
            }
            job.log.warning("mini-batch \(w.mb): \(why) after \(n) attempts; running its \(w.items.count) images one at a time")
            singles[w.mb] = (w.items.count, [])
            for i in w.items.reversed() { pending.append(Work(mb: w.mb, items: [i], single: true)) }
            return true
        }
        func addSingle(_ mb: Int, _ records: [ItemRecord]) throws -> Bool {
            var s = singles[mb]!
            s.left -= 1
            s.records += records
            singles[mb] = s
            if s.left == 0 { singles[mb] = nil; return try finishPart(mb, s.records) }
            return true
        }

        var seq = 0
        /// A worker is gone (exit or kill): its head fails, the mini-batches waiting behind it go back to the queue.
        func lost(_ s: Slot, _ why: String) throws -> Bool {
            let q = s.queue
            s.queue = []
            s.process = nil
            s.input = nil
            guard let head = q.first else { return true }
            for w in q.dropFirst().reversed() { pending.append(w) }
            return try failed(head, why)
        }
        while true {
            if cancelled() { return .interrupted }
            // hand out work: up to `depth` mini-batches per worker
            for s in slots {
                while s.queue.count < WorkerPool.depth && !pending.isEmpty {
                    if s.process == nil { try spawn(s) }
                    var w = pending.removeLast()
                    seq += 1
                    w.seq = seq
                    if s.queue.isEmpty { s.started = Date() }
                    s.queue.append(w)
                    let line = try JSONEncoder().encode(BatchWorker.Request(mb: w.mb, items: w.items, seq: w.seq)) + Data("\n".utf8)
                    do { try s.input?.write(contentsOf: line) } catch {
                        // the worker died before it read: its exit event fails this work
                    }
                    job.log.debug("mini-batch \(w.mb)\(w.single ? " image \(w.items[0])" : "") -> worker \(s.id)")
                }
            }
            if pending.isEmpty && slots.allSatisfy({ $0.queue.isEmpty }) && singles.isEmpty { return nil }
            // wait for an event or the nearest deadline
            let timeout = job.timeoutSeconds
            let deadline = slots.compactMap { $0.queue.isEmpty ? nil : $0.started.addingTimeInterval(timeout) }.min() ?? Date().addingTimeInterval(1)
            cond.lock()
            if events.isEmpty { _ = cond.wait(until: min(deadline, Date().addingTimeInterval(0.5))) }
            let evs = events
            events = []
            cond.unlock()
            for e in evs {
                switch e {
                case .reply(let id, let reply):
                    let s = slots[id]
                    guard let w = s.queue.first, w.mb == reply.mb, reply.seq == nil || reply.seq == w.seq else { continue }
                    s.queue.removeFirst()
                    s.started = Date()
                    if let f = reply.fatal { return .fatal(f) }
                    let records = reply.records ?? []
                    let keep = w.single ? try addSingle(w.mb, records) : try finishPart(w.mb, records)
                    if !keep { return .stoppedAtErrorThreshold }
                case .exited(let id, let status, let signaled):
                    let s = slots[id]
                    let why = signaled ? "the worker was killed by signal \(status)" : "the worker exited with status \(status)"
                    if let w = s.queue.first { job.log.warning("worker \(id): \(why) during mini-batch \(w.mb)") }
                    if !(try lost(s, why)) { return .stoppedAtErrorThreshold }
                }
            }
            // time-outs: kill the worker; its work is retried
            let now = Date()
            for s in slots {
                guard let w = s.queue.first, now.timeIntervalSince(s.started) > timeout, let p = s.process else { continue }
                job.log.warning("worker \(s.id): mini-batch \(w.mb) timed out after \(BatchJob.seconds(timeout)); killing it")
                s.generation += 1  // its exit event is stale now
                kill(p.processIdentifier, SIGKILL)
                if !(try lost(s, "timed out after \(BatchJob.seconds(timeout))")) { return .stoppedAtErrorThreshold }
            }
        }
    }

    func spawn(_ s: Slot) throws {
        let p = Process()
        p.executableURL = job.o.workerExecutable
        p.arguments = job.o.workerArguments + ["--job", job.folder.url.path, "--max-retries", String(job.o.settings.maxRetries)]
        var env = ProcessInfo.processInfo.environment
        env["FOVEA_NUM_THREADS"] = String(job.o.threadsPerWorker)
        env["OPENBLAS_NUM_THREADS"] = "1"
        for (k, v) in job.o.settings.environmentVariables { env[k] = v }
        p.environment = env
        let inPipe = Pipe(), outPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        let logURL = job.folder.logs.appendingPathComponent("worker-\(s.id).log")
        if !FileManager.default.fileExists(atPath: logURL.path) { FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let errH = FileHandle(forWritingAtPath: logURL.path)
        _ = try? errH?.seekToEnd()
        p.standardError = errH ?? FileHandle.nullDevice
        s.generation += 1
        let gen = s.generation, id = s.id
        let exitSeen = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in exitSeen.signal() }
        try p.run()
        try? errH?.close()
        s.process = p
        s.input = inPipe.fileHandleForWriting
        let reader = outPipe.fileHandleForReading
        Thread.detachNewThread { [weak self] in
            let fd = reader.fileDescriptor
            var buf = [UInt8]()
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let dec = JSONDecoder()
            var scanned = 0  // bytes of buf already known to hold no newline
            while true {
                let n = chunk.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                buf.append(contentsOf: chunk[0..<n])
                var start = 0
                while let nl = buf[(start + scanned)...].firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Data(buf[start..<nl])
                    if let r = try? dec.decode(BatchWorker.Reply.self, from: line) { self?.post(.reply(id, r), gen: gen) }
                    start = nl + 1
                    scanned = 0
                }
                scanned = buf.count - start
                if start > 0 { buf.removeFirst(start) }
            }
            exitSeen.wait()
            self?.post(.exited(id, p.terminationStatus, p.terminationReason == .uncaughtSignal), gen: gen)
        }
    }

    func post(_ e: Event, gen: Int) {
        cond.lock()
        if slots[idOf(e)].generation == gen { events.append(e) }
        cond.signal()
        cond.unlock()
    }
    func idOf(_ e: Event) -> Int { switch e { case .reply(let i, _), .exited(let i, _, _): return i } }

    func shutdown() {
        for s in slots {
            s.generation += 1
            try? s.input?.close()
            if let p = s.process, p.isRunning, !s.queue.isEmpty { kill(p.processIdentifier, SIGKILL) }
        }
        // workers without work exit at the end of their stdin; wait a little for them
        let until = Date().addingTimeInterval(5)
        for s in slots { while let p = s.process, p.isRunning, Date() < until { usleep(10_000) } }
    }
}

/// Progress: a bar redrawn in place when stderr is a terminal, else a plain line every few seconds.
final class Progress {
    let total: Int
    var done: Int
    let already: Int
    let terminal: Bool
    let log: BatchLog
    let start = Date()
    var lastLine = Date.distantPast
    /// progress.json in the job folder (for `fovea job stream` and `job show`), rewritten at most once a second.
    var file: URL?
    var failed = 0
    var lastWrite = Date.distantPast
    init(total: Int, already: Int, terminal: Bool, log: BatchLog) {
        self.total = total
        done = already
        self.already = already
        self.terminal = terminal
        self.log = log
        if terminal { log.onStderr = { writeAll(2, Data("\r\u{1B}[K\($0)\n".utf8)) } }
    }
    var rate: Double { Double(done - already) / max(1e-3, Date().timeIntervalSince(start)) }
    func add(_ n: Int, failed f: Int = 0) {
        done += n
        failed += f
        let now = Date()
        if now.timeIntervalSince(lastWrite) >= 1 || done == total { writeFile(final: false) }
        if terminal { draw() } else if now.timeIntervalSince(lastLine) >= 5 || done == total {
            lastLine = now
            log.info(text())
        }
    }
    func text() -> String {
        let r = rate
        let eta = r > 0 ? Double(total - done) / r : 0
        return String(format: "%d/%d images  %.1f images/s  ETA %d:%02d", done, total, r, Int(eta) / 60, Int(eta) % 60)
    }
    func draw() {
        let width = 30
        let filled = total == 0 ? width : width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        writeAll(2, Data("\r\u{1B}[K[\(bar)] \(text())".utf8))
    }
    func finish() {
        writeFile(final: true)
        if terminal { draw(); writeAll(2, Data("\n".utf8)) }
    }
    func writeFile(final: Bool) {
        guard let file else { return }
        lastWrite = Date()
        let r = rate
        let o: [String: Any] = ["done": done, "failed": failed, "total": total, "images_per_s": (r * 100).rounded() / 100,
                                "eta_s": r > 0 ? (Double(total - done) / r).rounded() : NSNull(), "running": !final,
                                "updated": ISO8601DateFormatter().string(from: Date())]
        if let d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) { try? AtomicFile.write(d, to: file, mode: 0o644) }
    }
}
