import Foundation
import FoveaServer
import AsyncHTTPClient
import NIOCore
import XCTest

/// The router → instance scoring hop on its own: real sockets on 127.0.0.1, a real handler thread.
final class FrameTests: XCTestCase {
    func echoServer(maxBody: Int = 1 << 20, delay: Double = 0) throws -> FrameServer {
        let s = try FrameServer(host: "127.0.0.1", maxBody: maxBody) { meta, body in
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            var reply = Data("\(meta["request_id"] ?? "-")|\(meta["content_type"] ?? "-")|".utf8)
            reply.append(body)
            return (body.isEmpty ? 400 : 200, ["row_errors": "rows of \(meta["request_id"] ?? "-")"], reply, nil)
        }
        s.start()
        return s
    }

    func testRoundTripsReuseTheConnectionAndCarryStatusMetaAndBody() async throws {
        let s = try echoServer()
        let c = FrameClient(port: s.port)
        defer { c.shutdown() }
        let big = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        for i in 0..<3 {
            let r = try c.call(meta: ["request_id": "r\(i)", "content_type": "image/jpeg"], body: ByteBuffer(data: big))
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.meta["row_errors"], "rows of r\(i)")
            let expected = Data("r\(i)|image/jpeg|".utf8) + big
            XCTAssertEqual(Data(buffer: r.body), expected)
        }
        let empty = try c.call(meta: ["request_id": "e"], body: ByteBuffer())
        XCTAssertEqual(empty.status, 400)
        XCTAssertEqual(String(buffer: empty.body), "e|-|")
    }

    func testOversizeBodyIs413AndTheConnectionStaysUsable() async throws {
        let s = try echoServer(maxBody: 1000)
        let c = FrameClient(port: s.port)
        defer { c.shutdown() }
        let r = try c.call(meta: ["request_id": "big"], body: ByteBuffer(repeating: 1, count: 5000))
        XCTAssertEqual(r.status, 413)
        let o = try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: [String: String]]
        XCTAssertEqual(o?["error"]?["message"], "the request body is larger than 1000 bytes")
        let ok = try c.call(meta: ["request_id": "small"], body: ByteBuffer(string: "hi"))
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(String(buffer: ok.body), "small|-|hi")
    }

    func testDeadlineAbandonsTheRequestAtOnceAndTheClientStaysUsable() throws {
        let s = try echoServer(delay: 3)
        let c = FrameClient(port: s.port)
        defer { c.shutdown() }
        let t0 = Date()
        XCTAssertThrowsError(try c.call(meta: ["request_id": "slow"], body: ByteBuffer(string: "x"), deadline: .now() + .milliseconds(200))) {
            XCTAssertTrue($0 is FrameClient.TimedOut, "\($0)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2.0, "the call waited for the slow handler")
        // the abandoned connection was closed, not reused: the next call gets its own answer
        let r = try c.call(meta: ["request_id": "next"], body: ByteBuffer(string: "y"))
        XCTAssertEqual(String(buffer: r.body), "next|-|y")
    }

    /// CPU time of the calling thread, in ms.
    func threadCPUms() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
    }

    func testReplySpinIsBoundedAndOnlyUsesFreeCPUs() throws {
        let s = try FrameServer(host: "127.0.0.1", maxBody: 1 << 20) { meta, body in
            Thread.sleep(forTimeInterval: Double(meta["delay_ms"] ?? "0")! / 1000)
            return (200, [:], Data("\(meta["request_id"]!)".utf8) + body, nil)
        }
        s.start()
        // history of 20 ms replies, then earlier and much later ones: every answer is the right one
        let c = FrameClient(port: s.port, engineThreads: 1, spin: true)
        defer { c.shutdown() }
        for (i, d) in [20, 20, 20, 20, 5, 20, 150].enumerated() {
            let t0 = threadCPUms()
            let r = try c.call(meta: ["request_id": "r\(i)", "delay_ms": "\(d)"], body: ByteBuffer(string: "x"))
            XCTAssertEqual(String(buffer: r.body), "r\(i)x")
            // the 150 ms reply came long after the spin window: the thread spun at most ~2 ms, then slept
            if d == 150 { XCTAssertLessThan(threadCPUms() - t0, 40, "the spin is capped") }
        }
        // an instance whose engine threads fill every CPU: the caller never spins, it sleeps until the reply
        let busy = FrameClient(port: s.port, engineThreads: 10_000, spin: true)
        defer { busy.shutdown() }
        var cpu = 0.0
        for i in 0..<8 {
            let t0 = threadCPUms()
            _ = try busy.call(meta: ["request_id": "b\(i)", "delay_ms": i < 4 ? "20" : "60"], body: ByteBuffer(string: "x"))
            if i >= 4 { cpu += threadCPUms() - t0 }
        }
        XCTAssertLessThan(cpu, 4, "no CPU to spare: no spinning (4 late replies would have spun ~8 ms)")
    }

    func testNoListenerIsAnError() async throws {
        let s = try echoServer()
        let port = s.port
        let c = FrameClient(port: port)
        c.shutdown()
        do {
            _ = try c.call(meta: [:], body: ByteBuffer(string: "x"))
            XCTFail("a shut-down client answered")
        } catch {}
        // a port nobody listens on: bind one, note it, close it
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var got = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &got) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        close(fd)
        let dead = FrameClient(port: Int(UInt16(bigEndian: got.sin_port)))
        do {
            _ = try dead.call(meta: [:], body: ByteBuffer(string: "x"))
            XCTFail("nothing listens there")
        } catch {}
    }
}

/// A real `fovea worker` process: its HTTP port and its frame port answer the same request the same way.
final class WorkerPortsTests: XCTestCase {
    func testHTTPAndFramePortsGiveTheSameAnswers() async throws {
        let p = Process()
        p.executableURL = TestServer.binary
        p.arguments = ["worker", "--model", "mobilenetv2-imagenet:1", "--registry", TestServer.root.appendingPathComponent("models").path,
                       "--port", "0", "--parent-pid", String(getpid())]
        var env = ProcessInfo.processInfo.environment
        env["FOVEA_NUM_THREADS"] = "1"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        // the frame port is announced before the HTTP port
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while !text.contains("FOVEA_WORKER_PORT ") && Date() < deadline {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            text += String(decoding: d, as: UTF8.self)
        }
        func port(_ key: String) -> Int? {
            text.split(separator: "\n").first { $0.hasPrefix(key + " ") }.flatMap { Int($0.dropFirst(key.count + 1)) }
        }
        let httpPort = try XCTUnwrap(port("FOVEA_WORKER_PORT"), text)
        let framePort = try XCTUnwrap(port("FOVEA_WORKER_FRAME_PORT"), text)
        XCTAssertNotEqual(httpPort, framePort)
        // ready once the model is loaded
        var ready = false
        while !ready && Date() < deadline {
            if let r = try? await TestServer.client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(httpPort)/ready"), timeout: .seconds(5)) {
                ready = r.status == .ok
            }
            if !ready { try await Task.sleep(for: .milliseconds(200)) }
        }
        XCTAssertTrue(ready, "the worker did not become ready")

        let jpeg = try Data(contentsOf: TestServer.root.appendingPathComponent("Tests/Fixtures/images/chelsea.jpg"))
        func overHTTP(_ body: Data, _ type: String) async throws -> (Int, Data) {
            var req = HTTPClientRequest(url: "http://127.0.0.1:\(httpPort)/score")
            req.method = .POST
            req.headers.add(name: "content-type", value: type)
            req.body = .bytes(ByteBuffer(data: body))
            let r = try await TestServer.client.execute(req, timeout: .seconds(30))
            return (Int(r.status.code), Data(buffer: try await r.body.collect(upTo: 1 << 24)))
        }
        let frames = FrameClient(port: framePort)
        defer { frames.shutdown() }
        func overFrames(_ body: Data, _ type: String) async throws -> (Int, Data) {
            let r = try frames.call(meta: ["request_id": "t", "content_type": type], body: ByteBuffer(data: body))
            return (r.status, Data(buffer: r.body))
        }
        let h = try await overHTTP(jpeg, "image/jpeg"), f = try await overFrames(jpeg, "image/jpeg")
        XCTAssertEqual(h.0, 200)
        XCTAssertEqual(f.0, 200)
        XCTAssertEqual(h.1, f.1, "the same image gives the same JSON on both ports")
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: f.1) as? [[String: Any]])
        let probs = try XCTUnwrap(rows.first?["probs"] as? [Double]), labels = try XCTUnwrap(rows.first?["labels"] as? [String])
        XCTAssertEqual(labels[probs.indices.max { probs[$0] < probs[$1] }!], "Egyptian cat")
        // a bad request is a 400 with the same error body on both ports
        let bad = Data("{\"input_data\": 3}".utf8)
        let hb = try await overHTTP(bad, "application/json"), fb = try await overFrames(bad, "application/json")
        XCTAssertEqual(hb.0, 400)
        XCTAssertEqual(fb.0, 400)
        let hm = (try JSONSerialization.jsonObject(with: hb.1) as? [String: [String: String]])?["error"]?["message"]
        let fm = (try JSONSerialization.jsonObject(with: fb.1) as? [String: [String: String]])?["error"]?["message"]
        XCTAssertNotNil(hm)
        XCTAssertEqual(hm, fm)
    }
}
