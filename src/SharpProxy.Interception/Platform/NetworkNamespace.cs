using System.Runtime.InteropServices;

namespace SharpProxy.Interception.Platform;

/// <summary>
/// Runs code with the calling thread switched into another network namespace. <c>setns(CLONE_NEWNET)</c> only
/// affects the calling thread, so the work runs on a dedicated thread that is discarded afterwards; sockets created
/// there stay in that namespace when used from any other thread.
/// </summary>
internal static partial class NetworkNamespace
{
    private const int CloneNewNet = 0x40000000;

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nsType);

    /// <summary>Runs <paramref name="work"/> inside the namespace at <paramref name="path"/> (e.g. /var/run/netns/x).</summary>
    public static T Run<T>(string path, Func<T> work)
    {
        T? result = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
                if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new IOException($"setns({path}) failed: errno {Marshal.GetLastPInvokeError()}");
                }

                result = work();
            }
            catch (Exception e)
            {
                failure = e;
            }
        })
        {
            IsBackground = true,
            Name = "netns " + Path.GetFileName(path),
        };
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException($"running in network namespace {path} failed: {failure.Message}", failure);
        }

        return result!;
    }
}
