using System.Runtime.InteropServices;

namespace SharpProxy.Core.Transport;

/// <summary>
/// The Linux calls the event loops need that .NET does not expose — epoll(7) and eventfd(2) — and recv(2)/send(2) on a
/// loop socket's descriptor without Socket's per-call checks (the loop socket's own locks keep the descriptor alive).
/// </summary>
internal static unsafe partial class Epoll
{
    public const uint In = 0x001;
    public const uint Out = 0x004;
    public const uint Err = 0x008;
    public const uint Hup = 0x010;
    public const uint RdHup = 0x2000;
    public const uint EdgeTriggered = 1u << 31;

    public const int CtlAdd = 1;
    public const int CtlDel = 2;

    private const int CloseOnExec = 0x80000; // EPOLL_CLOEXEC = EFD_CLOEXEC = O_CLOEXEC
    private const int EventFdNonBlocking = 0x800;

    public const int EINTR = 4;
    public const int EAGAIN = 11;

    /// <summary>MSG_PEEK, the same bit as <see cref="System.Net.Sockets.SocketFlags.Peek"/>.</summary>
    public const int MsgPeek = 0x2;

    // No SIGPIPE on a peer that closed: the error comes back as EPIPE instead.
    private const int MsgNoSignal = 0x4000;

    /// <summary>
    /// struct epoll_event is packed on x86-64 (12 bytes: events, then the 64-bit data at offset 4) and naturally
    /// aligned elsewhere (16 bytes, data at offset 8).
    /// </summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    public static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    public static bool IsSupported => OperatingSystem.IsLinux();

    public static int Create()
    {
        var fd = epoll_create1(CloseOnExec);
        return fd >= 0 ? fd : throw new InvalidOperationException("epoll_create1 failed: errno " + Marshal.GetLastPInvokeError());
    }

    public static int CreateWakeFd()
    {
        var fd = eventfd(0, CloseOnExec | EventFdNonBlocking);
        return fd >= 0 ? fd : throw new InvalidOperationException("eventfd failed: errno " + Marshal.GetLastPInvokeError());
    }

    /// <summary>Adds <paramref name="fd"/> (edge-triggered, both directions); errno on failure, 0 on success.</summary>
    public static int Add(int epoll, int fd, uint events, ulong data)
    {
        var buffer = stackalloc byte[16];
        *(uint*)buffer = events;
        *(ulong*)(buffer + DataOffset) = data;
        return epoll_ctl(epoll, CtlAdd, fd, buffer) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    public static void Remove(int epoll, int fd)
    {
        // Since Linux 2.6.9 the event argument of EPOLL_CTL_DEL may be null. Failure (already closed) is harmless.
        _ = epoll_ctl(epoll, CtlDel, fd, null);
    }

    public static int Wait(int epoll, byte* events, int maxEvents, int timeoutMs, out int errno)
    {
        var count = epoll_wait(epoll, events, maxEvents, timeoutMs);
        errno = count < 0 ? Marshal.GetLastPInvokeError() : 0;
        return count;
    }

    public static void Signal(int eventFd)
    {
        ulong one = 1;
        _ = write(eventFd, &one, sizeof(ulong));
    }

    public static void Drain(int eventFd)
    {
        ulong value;
        _ = read(eventFd, &value, sizeof(ulong));
    }

    public static void Close(int fd) => _ = close(fd);

    /// <summary>recv(2): the bytes read (0 at the end of the stream), or -1 with <paramref name="errno"/> set; EINTR retried.</summary>
    public static int Receive(int fd, Span<byte> buffer, int flags, out int errno)
    {
        fixed (byte* start = buffer)
        {
            while (true)
            {
                var read = recv(fd, start, buffer.Length, flags);
                if (read >= 0)
                {
                    errno = 0;
                    return (int)read;
                }

                errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    return -1;
                }
            }
        }
    }

    /// <summary>send(2) without SIGPIPE: the bytes sent, or -1 with <paramref name="errno"/> set; EINTR retried.</summary>
    public static int Send(int fd, ReadOnlySpan<byte> data, out int errno)
    {
        fixed (byte* start = data)
        {
            while (true)
            {
                var sent = send(fd, start, data.Length, MsgNoSignal);
                if (sent >= 0)
                {
                    errno = 0;
                    return (int)sent;
                }

                errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    return -1;
                }
            }
        }
    }

    /// <summary>The portable code .NET's own sockets report for an errno of recv/send (as its SocketException would carry).</summary>
    public static System.Net.Sockets.SocketError ToSocketError(int errno) => errno switch
    {
        EAGAIN => System.Net.Sockets.SocketError.WouldBlock,
        9 => System.Net.Sockets.SocketError.OperationAborted, // EBADF
        12 or 105 => System.Net.Sockets.SocketError.NoBufferSpaceAvailable, // ENOMEM, ENOBUFS
        32 => System.Net.Sockets.SocketError.Shutdown, // EPIPE
        100 => System.Net.Sockets.SocketError.NetworkDown, // ENETDOWN
        101 => System.Net.Sockets.SocketError.NetworkUnreachable, // ENETUNREACH
        103 => System.Net.Sockets.SocketError.ConnectionAborted, // ECONNABORTED
        104 => System.Net.Sockets.SocketError.ConnectionReset, // ECONNRESET
        107 => System.Net.Sockets.SocketError.NotConnected, // ENOTCONN
        110 => System.Net.Sockets.SocketError.TimedOut, // ETIMEDOUT
        111 => System.Net.Sockets.SocketError.ConnectionRefused, // ECONNREFUSED
        113 => System.Net.Sockets.SocketError.HostUnreachable, // EHOSTUNREACH
        _ => System.Net.Sockets.SocketError.SocketError,
    };

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_ctl(int epfd, int op, int fd, void* ev);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_wait(int epfd, void* events, int maxevents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, void* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint write(int fd, void* buf, nint count);

    [LibraryImport("libc")]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recv(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint send(int fd, byte* buf, nint len, int flags);
}
