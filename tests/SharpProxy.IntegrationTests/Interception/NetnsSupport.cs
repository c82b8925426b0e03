using System.Net;
using System.Net.Sockets;
using System.Text;
using SharpProxy.Interception.Platform;

namespace SharpProxy.IntegrationTests.Interception;

/// <summary>
/// A [Fact] that runs only where network namespaces can be made: Linux, root, and <c>ip</c> (iproute2). Elsewhere it is
/// skipped with the reason; CI runs as root with iproute2, iptables and nftables installed, so there it runs.
/// </summary>
public sealed class NetnsFactAttribute : FactAttribute
{
    public NetnsFactAttribute()
    {
        if (MissingPrerequisite() is { } missing)
        {
            Skip = "needs network namespaces: " + missing;
        }
    }

    internal static string? MissingPrerequisite()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "Linux only";
        }

        if (!Environment.IsPrivilegedProcess)
        {
            return "not running as root";
        }

        // Only the namespace machinery itself is a reason to skip; a missing iptables, nft or setpriv fails the test
        // (CI installs them), so the proof cannot silently stop running.
        return OnPath("ip") ? null : "'ip' (iproute2) not on PATH";
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
            .Any(dir => File.Exists(Path.Combine(dir, program)));
}

/// <summary>A [Theory] with the same runtime prerequisite check as <see cref="NetnsFactAttribute"/>.</summary>
public sealed class NetnsTheoryAttribute : TheoryAttribute
{
    public NetnsTheoryAttribute()
    {
        if (NetnsFactAttribute.MissingPrerequisite() is { } missing)
        {
            Skip = "needs network namespaces: " + missing;
        }
    }
}

/// <summary>A network namespace named sp-e2e-*, deleted (with everything in it) on dispose.</summary>
internal sealed class TestNetns : IDisposable
{
    private TestNetns(string name) => Name = name;

    public string Name { get; }

    public string Path => "/var/run/netns/" + Name;

    public static TestNetns Create(string role)
    {
        var ns = new TestNetns("sp-e2e-" + role + "-" + Guid.NewGuid().ToString("N")[..8]);
        var created = ProcessRunner.Default.Run("ip", ["netns", "add", ns.Name]);
        if (!created.Success)
        {
            throw new InvalidOperationException($"ip netns add {ns.Name} failed: {created.StandardError}");
        }

        try
        {
            ns.Must("ip", "link", "set", "lo", "up");
        }
        catch
        {
            ns.Dispose();
            throw;
        }

        return ns;
    }

    public ProcessResult Exec(params string[] command) => ProcessRunner.Default.Run("ip", ["netns", "exec", Name, .. command]);

    public string Must(params string[] command)
    {
        var result = Exec(command);
        if (!result.Success)
        {
            throw new InvalidOperationException($"'{string.Join(' ', command)}' in {Name} failed (exit {result.ExitCode}): {result.StandardError}");
        }

        return result.StandardOutput;
    }

    /// <summary>Runs <paramref name="work"/> on a thread inside the namespace; sockets it creates stay there.</summary>
    public T Run<T>(Func<T> work) => NetworkNamespace.Run(Path, work);

    public void Dispose() => ProcessRunner.Default.Run("ip", ["netns", "del", Name]);
}

/// <summary>
/// A TCP server for the namespace tests: on each connection it first writes one line "TAG REMOTE-IP:PORT", then echoes
/// every byte back until the client's FIN, then closes. The line tells the test which server got the connection and from
/// which source address.
/// </summary>
internal sealed class TagServer : IDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();

    private TagServer(Socket listener, string tag)
    {
        _listener = listener;
        Tag = tag;
        _ = AcceptLoopAsync();
    }

    public string Tag { get; }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Listens on <paramref name="endPoint"/>; call inside <see cref="TestNetns.Run"/> to listen in a namespace.</summary>
    public static TagServer Listen(string tag, IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(endPoint);
        socket.Listen(64);
        return new TagServer(socket, tag);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = ServeAsync(accepted);
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using (socket)
        {
            try
            {
                var remote = (IPEndPoint)socket.RemoteEndPoint!;
                var address = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
                await socket.SendAsync(Encoding.ASCII.GetBytes($"{Tag} {address}:{remote.Port}\n"), SocketFlags.None).ConfigureAwait(false);
                var buffer = new byte[16 * 1024];
                while (true)
                {
                    var read = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        socket.Shutdown(SocketShutdown.Send);
                        return;
                    }

                    await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
            }
        }
    }
}

/// <summary>Client side of <see cref="TagServer"/>.</summary>
internal static class TagClient
{
    /// <summary>Connects (socket made inside <paramref name="ns"/>), reads the greeting line, round-trips a payload.</summary>
    public static async Task<string> GreetAsync(TestNetns ns, IPEndPoint target, IPEndPoint? bindTo = null)
    {
        using var socket = ns.Run(() =>
        {
            var s = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (bindTo is not null)
            {
                s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                s.Bind(bindTo);
            }

            return s;
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(target, timeout.Token);
        var line = await ReadLineAsync(socket, timeout.Token);
        Assert.True(line.Length > 0, $"connection to {target} closed before the upstream's greeting");
        var payload = Encoding.ASCII.GetBytes("ping-" + Guid.NewGuid().ToString("N"));
        await socket.SendAsync(payload, SocketFlags.None, timeout.Token);
        socket.Shutdown(SocketShutdown.Send);
        var echoed = await ReadToEndAsync(socket, timeout.Token);
        Assert.Equal(Encoding.ASCII.GetString(payload), echoed);
        return line;
    }

    /// <summary>Connects and reads until the peer closes; returns what arrived ("" for an immediate close or reset).</summary>
    public static async Task<string> ReadUntilClosedAsync(TestNetns ns, IPEndPoint target)
    {
        using var socket = ns.Run(() => new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(target, timeout.Token);
        try
        {
            return await ReadToEndAsync(socket, timeout.Token);
        }
        catch (SocketException)
        {
            return "";
        }
    }

    public static async Task<string> ReadLineAsync(Socket socket, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var one = new byte[1];
        while (true)
        {
            var read = await socket.ReceiveAsync(one, SocketFlags.None, cancellationToken);
            if (read == 0 || one[0] == (byte)'\n')
            {
                return text.ToString();
            }

            text.Append((char)one[0]);
        }
    }

    public static async Task<string> ReadToEndAsync(Socket socket, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return text.ToString();
            }

            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
    }
}
