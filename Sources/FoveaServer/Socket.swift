import Foundation
import NIOCore

/// Blocking socket helpers shared by the scoring port, the frame server and the frame client.
enum Socket {
    enum Failure: Error { case timedOut, closed }

    /// A TCP connection to 127.0.0.1:port with TCP_NODELAY, or nil (errno set).
    static func connectLoopback(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else { let e = errno; close(fd); errno = e; return nil }
        noDelay(fd)
        return fd
    }

    /// A listening TCP socket on host:port (0 = any free port) and the port it got.
    static func listen(host: String, port: Int, what: String) throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ConfigError("\(what): \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &addr.sin_addr) == 1 else {
            close(fd)
            throw ConfigError("\(what): the host must be an IPv4 address, got \(host)")
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Foundation.listen(fd, 256) == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw ConfigError("\(what): cannot listen on \(host):\(port): \(e)")
        }
        var got = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &got) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return (fd, Int(UInt16(bigEndian: got.sin_port)))
    }

    static func noDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Waits until fd is readable; false when the deadline passes first.
    static func waitReadable(_ fd: Int32, deadline: NIODeadline?) -> Bool {
        while true {
            var timeout: Int32 = -1
            if let deadline {
                let ns = deadline.uptimeNanoseconds > NIODeadline.now().uptimeNanoseconds
                    ? deadline.uptimeNanoseconds - NIODeadline.now().uptimeNanoseconds : 0
                if ns == 0 { return false }
                timeout = Int32(min(ns / 1_000_000 + 1, UInt64(Int32.max)))
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, timeout)
            if r > 0 { return true }
            if r < 0 && errno != EINTR { return true }  // let read() report the error
        }
    }

    /// Waits up to `nanoseconds` (microsecond precision, ppoll) until fd is readable; false when the time passes first.
    static func waitReadable(_ fd: Int32, nanoseconds: UInt64) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard let ppoll = ppollFunction else { return poll(&p, 1, Int32(min((nanoseconds + 999_999) / 1_000_000, UInt64(Int32.max)))) != 0 }
        var ts = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        return ppoll(&p, 1, &ts, nil) != 0
    }

    private typealias PPoll = @convention(c) (UnsafeMutablePointer<pollfd>?, nfds_t, UnsafePointer<timespec>?, UnsafeRawPointer?) -> Int32
    /// glibc's ppoll (not exported to Swift by the Glibc module).
    private static let ppollFunction: PPoll? = dlsym(nil, "ppoll").map { unsafeBitCast($0, to: PPoll.self) }

    /// Reads what is there (at least one byte, at most n), waiting only when nothing is: a read first, poll()
    /// only on EAGAIN — most reads of a request or a reply find their bytes already there.
    static func receive(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int, deadline: NIODeadline?) throws(Failure) -> Int {
        while true {
            let r = recv(fd, p, n, Int32(MSG_DONTWAIT))
            if r > 0 { return r }
            if r == 0 { throw .closed }
            if errno == EINTR { continue }
            guard errno == EAGAIN || errno == EWOULDBLOCK else { throw .closed }
            if !waitReadable(fd, deadline: deadline) { throw .timedOut }
        }
    }

    /// Reads exactly n bytes, or throws (the peer closed, or the deadline passed).
    static func readFully(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int, deadline: NIODeadline?) throws(Failure) {
        var got = 0
        while got < n { got += try receive(fd, p + got, n - got, deadline: deadline) }
    }

    /// Sends the parts in order with as few system calls as the socket allows (sendmsg, no SIGPIPE).
    static func sendAll(_ fd: Int32, _ parts: [(UnsafeRawPointer?, Int)]) -> Bool {
        var iov = parts.filter { $0.1 > 0 }.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.0), iov_len: $0.1) }
        var first = 0
        while first < iov.count {
            let r = iov.withUnsafeMutableBufferPointer { v -> Int in
                var msg = msghdr()
                msg.msg_iov = v.baseAddress! + first
                msg.msg_iovlen = v.count - first
                return sendmsg(fd, &msg, Int32(MSG_NOSIGNAL))
            }
            if r < 0 { if errno == EINTR { continue }; return false }
            var left = r
            while first < iov.count && left >= iov[first].iov_len { left -= iov[first].iov_len; first += 1 }
            if first < iov.count && left > 0 {
                iov[first].iov_base = iov[first].iov_base! + left
                iov[first].iov_len -= left
            }
        }
        return true
    }
}
