using System.Runtime.InteropServices;

namespace SharpProxy.Core.Transport;

/// <summary>The Linux calls the event loops need that .NET does not expose: epoll(7) and eventfd(2).</summary>
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
}
