using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using SharpProxy.Interception.Options;

namespace SharpProxy.Interception.Apply;

/// <summary>
/// Istio's <c>--run-validation</c> self-test (tools/istio-iptables/pkg/validation): listen on loopback at the
/// outbound and inbound capture ports, dial <c>127.0.0.6:&lt;probe port&gt;</c> (<c>::6</c> with IPv6) from loopback
/// once a second, and succeed when a listener accepts a connection whose SO_ORIGINAL_DST port is the probe port. The
/// dial is only redirected when this process runs as the proxy UID (the owner rule), as in Istio's validation container.
/// </summary>
internal static class CaptureValidator
{
    public static bool Run(IptablesOptions cfg, TextWriter log)
    {
        var loopback = cfg.EnableIPv6 ? IPAddress.IPv6Loopback : IPAddress.Loopback;
        var target = new IPEndPoint(cfg.EnableIPv6 ? IPAddress.Parse("::6") : IPAddress.Parse("127.0.0.6"), cfg.IptablesProbePort);
        var listeners = new List<Socket>();
        try
        {
            foreach (var port in new[] { cfg.ProxyPort, cfg.InboundCapturePort }.Distinct())
            {
                var l = new Socket(loopback.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                l.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                l.Bind(new IPEndPoint(loopback, int.Parse(port, System.Globalization.CultureInfo.InvariantCulture)));
                l.Listen(16);
                listeners.Add(l);
            }

            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < cfg.ProbeTimeout)
            {
                if (ProbeOnce(loopback, target, listeners, cfg.IptablesProbePort))
                {
                    log.WriteLine($"validation passed: a connection to {target} was redirected to the proxy");
                    return true;
                }

                Thread.Sleep(TimeSpan.FromMilliseconds(Math.Max(0, 1000 - (deadline.ElapsedMilliseconds % 1000))));
            }

            log.WriteLine($"validation failed: a connection to {target} was not redirected within {cfg.ProbeTimeout.TotalSeconds:0.#}s");
            return false;
        }
        catch (SocketException e)
        {
            log.WriteLine($"validation failed: {e.Message}");
            return false;
        }
        finally
        {
            foreach (var l in listeners)
            {
                l.Dispose();
            }
        }
    }

    private static bool ProbeOnce(IPAddress loopback, IPEndPoint target, List<Socket> listeners, int probePort)
    {
        using var client = new Socket(loopback.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        client.Bind(new IPEndPoint(loopback, 0));
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            client.ConnectAsync(target, cts.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }

        var ready = listeners.ToList();
        Socket.Select(ready, null, null, TimeSpan.FromSeconds(1));
        foreach (var l in ready)
        {
            using var accepted = l.Accept();
            if (OriginalDestination.TryGet(accepted, out var original) && original!.Port == probePort)
            {
                return true;
            }
        }

        return false;
    }
}
