using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SharpProxy.Interception;
using SharpProxy.Interception.Platform;
using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests.Interception;

/// <summary>
/// Issue 6's two-namespace proof. A "pod" namespace holds an application client (root), an application server, and
/// SharpProxy running as UID 1337 behind rules applied by our own <c>sharpproxy iptables</c> (the injector's flags plus
/// an excluded outbound port); a second "peer" namespace, reached over a veth pair, is the other pod. Addresses
/// (10.251.0.0/24) exist only inside those namespaces, which the test deletes.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class SidecarEndToEndTests
{
    private const int ProxyUid = 1337;
    private const string PodIp = "10.251.0.1";
    private const string PeerIp = "10.251.0.2";
    private const int ExcludedOutboundPort = 9100;

    private static readonly string[] CaptureFlags =
    [
        "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*",
        "-d", "15090,15021,15020", "-o", "9100",
    ];

    [NetnsTheory]
    [InlineData("iptables")]
    [InlineData("nftables")]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Sidecar_CapturesRoutesAndDeliversWithoutLoops_CleanupRemovesEveryRule(string backend)
    {
        string[] flags = backend == "nftables" ? [.. CaptureFlags, "--native-nftables"] : CaptureFlags;
        string podName, peerName;
        using (var pod = TestNetns.Create("pod"))
        using (var peer = TestNetns.Create("peer"))
        {
            podName = pod.Name;
            peerName = peer.Name;
            pod.Must("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer");
            pod.Must("ip", "link", "set", "eth0peer", "netns", peer.Name);
            peer.Must("ip", "link", "set", "eth0peer", "name", "eth0");
            pod.Must("ip", "addr", "add", PodIp + "/24", "dev", "eth0");
            peer.Must("ip", "addr", "add", PeerIp + "/24", "dev", "eth0");
            pod.Must("ip", "link", "set", "eth0", "up");
            peer.Must("ip", "link", "set", "eth0", "up");

            var servers = new List<IDisposable>();
            try
            {
                // The other pod: two versions of a service (subsets), a plain TCP service and one on the excluded port.
                servers.Add(peer.Run(() => MiniHttpServer.Listen("v1", Ep("0.0.0.0", 8081))));
                servers.Add(peer.Run(() => MiniHttpServer.Listen("v2", Ep("0.0.0.0", 8082))));
                servers.Add(peer.Run(() => TagServer.Listen("tcp9000", Ep("0.0.0.0", 9000))));
                servers.Add(peer.Run(() => TagServer.Listen("tcp9100", Ep("0.0.0.0", ExcludedOutboundPort))));

                // This pod's application: HTTP on 8080, raw TCP on 8090.
                servers.Add(pod.Run(() => MiniHttpServer.Listen("app", Ep("0.0.0.0", 8080))));
                servers.Add(pod.Run(() => TagServer.Listen("tcp8090", Ep("0.0.0.0", 8090))));

                var apply = RunIptables([.. flags, "--network-namespace", pod.Path]);
                Assert.True(apply.ExitCode == 0, apply.Output);
                Assert.Contains(backend == "nftables" ? "istio-output" : "ISTIO_OUTPUT", RuleDump(pod, backend), StringComparison.Ordinal);

                using var proxy = await NetnsProxy.StartAsync(pod, Config, uid: ProxyUid, extraArguments: ["--readiness-port", "15021"]);
                var context = "\n--- proxy output ---\n" + proxy.Output;

                // sharpproxy wait, as the application container's postStart hook would run it.
                var wait = pod.Exec([.. ProxyCommand(), "wait", "--url", "http://127.0.0.1:15021/healthz/ready", "--timeout-seconds", "60"]);
                Assert.True(wait.Success, $"sharpproxy wait failed ({wait.ExitCode}): {wait.StandardOutput}{wait.StandardError}{context}");
                Assert.Equal(ProxyUid, ProcessUid(proxy, pod));

                // Outbound HTTP: nothing listens on the peer's 8000; the proxy's config routes it, 50/50 to subsets v1, v2.
                using (var client = HttpClientIn(pod))
                {
                    var seen = new HashSet<string>(StringComparer.Ordinal);
                    for (var i = 0; i < 40 && seen.Count < 2; i++)
                    {
                        var body = await client.GetStringAsync($"http://{PeerIp}:8000/orders");
                        Assert.EndsWith($" {PodIp}", body.Split(':')[0], StringComparison.Ordinal);
                        seen.Add(body.Split(' ')[0]);
                    }

                    Assert.Equal(["v1", "v2"], seen.Order(StringComparer.Ordinal));

                    // A route to BlackHoleCluster: 503 with Envoy's UH flag.
                    using var blackhole = await client.GetAsync($"http://{PeerIp}:8000/blackhole");
                    Assert.Equal(HttpStatusCode.ServiceUnavailable, blackhole.StatusCode);
                    Assert.Equal("UH", ProxyAssert.Flags(blackhole));
                }

                // Outbound TCP passthrough: captured (the peer sees the proxy's connection, not the client's own port) and
                // delivered by PassthroughCluster to the original destination.
                var passthrough = await TagClient.GreetAsync(pod, Ep(PeerIp, 9000), bindTo: Ep(PodIp, 41000));
                Assert.StartsWith($"tcp9000 {PodIp}:", passthrough, StringComparison.Ordinal);
                Assert.NotEqual($"tcp9000 {PodIp}:41000", passthrough);

                // Excluded outbound port: bypasses the proxy, so the peer sees the client's own source port.
                Assert.Equal($"tcp9100 {PodIp}:41001", await TagClient.GreetAsync(pod, Ep(PeerIp, ExcludedOutboundPort), bindTo: Ep(PodIp, 41001)));

                // Loop guard: a direct connection to 15001 matches the destination_port 15001 chain (BlackHoleCluster).
                Assert.Equal("", await TagClient.ReadUntilClosedAsync(pod, Ep("127.0.0.1", 15001)));
                Assert.Equal("", await TagClient.ReadUntilClosedAsync(pod, Ep("127.0.0.1", 15006)));

                // Inbound HTTP from the other pod: captured on 15006, chain for port 8080, delivered from 127.0.0.6.
                using (var client = HttpClientIn(peer))
                {
                    var body = await client.GetStringAsync($"http://{PodIp}:8080/inbound");
                    Assert.StartsWith("app 127.0.0.6:", body, StringComparison.Ordinal);

                    // 15021 is excluded inbound (-d): the kubelet's probe reaches the readiness listener itself.
                    Assert.Equal("LIVE\n", await client.GetStringAsync($"http://{PodIp}:15021/healthz/ready"));
                }

                // Inbound TCP on an undeclared port: InboundPassthroughCluster, also from 127.0.0.6.
                Assert.StartsWith("tcp8090 127.0.0.6:", await TagClient.GreetAsync(peer, Ep(PodIp, 8090)), StringComparison.Ordinal);

                Assert.False(proxy.HasExited, "the proxy exited during the test" + context);
                proxy.Dispose();

                var cleanup = RunIptables([.. flags, "--network-namespace", pod.Path, "--cleanup-only"]);
                Assert.True(cleanup.ExitCode == 0, cleanup.Output);
                Assert.DoesNotContain("istio", RuleDump(pod, backend), StringComparison.OrdinalIgnoreCase);
            }
            finally
            {
                foreach (var server in servers)
                {
                    server.Dispose();
                }
            }
        }

        var remaining = ProcessRunner.Default.Run("ip", ["netns", "list"]).StandardOutput;
        Assert.DoesNotContain(podName, remaining, StringComparison.Ordinal);
        Assert.DoesNotContain(peerName, remaining, StringComparison.Ordinal);
    }

    /// <summary>Istio-shaped config: virtualOutbound (use_original_dst), a bind_to_port:false 0.0.0.0_8000 HTTP listener,
    /// virtualInbound (original_dst listener filter), PassthroughCluster, BlackHoleCluster, inbound clusters from 127.0.0.6.</summary>
    private const string Config = """
        admin: { address: { socket_address: { address: 127.0.0.1, port_value: 15000 } } }
        static_resources:
          listeners:
          - name: virtualOutbound
            address: { socket_address: { address: 0.0.0.0, port_value: 15001 } }
            use_original_dst: true
            filter_chains:
            - name: virtualOutbound-blackhole
              filter_chain_match: { destination_port: 15001 }
              filters: [ { name: envoy.filters.network.tcp_proxy, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: BlackHoleCluster, cluster: BlackHoleCluster } } ]
            - name: virtualOutbound-catchall-tcp
              filters: [ { name: envoy.filters.network.tcp_proxy, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: PassthroughCluster, cluster: PassthroughCluster } } ]
          - name: 0.0.0.0_8000
            address: { socket_address: { address: 0.0.0.0, port_value: 8000 } }
            bind_to_port: false
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: outbound_0.0.0.0_8000
                  route_config:
                    name: "8000"
                    virtual_hosts:
                    - name: orders
                      domains: [ "*" ]
                      routes:
                      - match: { prefix: /blackhole }
                        route: { cluster: BlackHoleCluster }
                      - match: { prefix: / }
                        route:
                          weighted_clusters:
                            clusters: [ { name: "outbound|8000|v1|orders", weight: 50 }, { name: "outbound|8000|v2|orders", weight: 50 } ]
                  http_filters: [ { name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } } ]
          - name: virtualInbound
            address: { socket_address: { address: 0.0.0.0, port_value: 15006 } }
            listener_filters:
            - name: envoy.filters.listener.original_dst
              typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst }
            filter_chains:
            - name: virtualInbound-blackhole
              filter_chain_match: { destination_port: 15006 }
              filters: [ { name: envoy.filters.network.tcp_proxy, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: BlackHoleCluster, cluster: BlackHoleCluster } } ]
            - name: 0.0.0.0_8080
              filter_chain_match: { destination_port: 8080 }
              filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: inbound_0.0.0.0_8080
                  route_config:
                    name: "inbound|8080||"
                    virtual_hosts: [ { name: inbound, domains: [ "*" ], routes: [ { match: { prefix: / }, route: { cluster: "inbound|8080||" } } ] } ]
                  http_filters: [ { name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } } ]
            - name: virtualInbound-catchall
              filters: [ { name: envoy.filters.network.tcp_proxy, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: InboundPassthroughCluster, cluster: InboundPassthroughCluster } } ]
          clusters:
          - name: "outbound|8000|v1|orders"
            type: STATIC
            connect_timeout: 2s
            load_assignment: { cluster_name: v1, endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 10.251.0.2, port_value: 8081 } } } } ] } ] }
          - name: "outbound|8000|v2|orders"
            type: STATIC
            connect_timeout: 2s
            load_assignment: { cluster_name: v2, endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 10.251.0.2, port_value: 8082 } } } } ] } ] }
          - { name: BlackHoleCluster, type: STATIC, connect_timeout: 10s }
          - { name: PassthroughCluster, type: ORIGINAL_DST, lb_policy: CLUSTER_PROVIDED, connect_timeout: 2s }
          - name: InboundPassthroughCluster
            type: ORIGINAL_DST
            lb_policy: CLUSTER_PROVIDED
            connect_timeout: 2s
            upstream_bind_config: { source_address: { address: 127.0.0.6, port_value: 0 } }
          - name: "inbound|8080||"
            type: ORIGINAL_DST
            lb_policy: CLUSTER_PROVIDED
            connect_timeout: 2s
            upstream_bind_config: { source_address: { address: 127.0.0.6, port_value: 0 } }
        """;

    private static IPEndPoint Ep(string address, int port) => new(IPAddress.Parse(address), port);

    /// <summary>Every rule in the pod namespace: all iptables tables (both families), or the whole nftables ruleset.</summary>
    private static string RuleDump(TestNetns pod, string backend) =>
        backend == "nftables"
            ? pod.Must("nft", "list", "ruleset")
            : pod.Must("iptables-save") + pod.Must("ip6tables-save");

    private static (int ExitCode, string Output) RunIptables(string[] args)
    {
        var host = new HostEnvironment
        {
            Variables = new Dictionary<string, string>(),
            LocalAddresses = HostEnvironment.ReadLocalAddresses,
        };
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = IptablesCommand.Run(args, stdout, stderr, host);
        return (code, $"sharpproxy iptables {string.Join(' ', args)} exited {code}\n{stdout}\n{stderr}");
    }

    /// <summary>The real UID of the proxy (the dotnet process, or the native executable, inside the namespace).</summary>
    private static int ProcessUid(NetnsProxy proxy, TestNetns pod)
    {
        var pids = pod.Must("ip", "netns", "pids", pod.Name).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var pid in pids)
        {
            string[] status;
            string cmdline;
            try
            {
                status = File.ReadAllLines($"/proc/{pid}/status");
                cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
            }
            catch (IOException)
            {
                continue; // exited since it was listed
            }

            if (cmdline.Contains(ProxyProcess.ProxyDllPath, StringComparison.Ordinal))
            {
                var uid = status.First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1];
                return int.Parse(uid, CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException("no sharpproxy process in " + pod.Name + "\n" + proxy.Output);
    }

    private static string DotnetHost() =>
        Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";

    /// <summary>dotnet and sharpproxy.dll, or the executable alone when the tests run a native AOT build.</summary>
    private static string[] ProxyCommand() =>
        ProxyProcess.ProxyDllPath is var path && path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? [DotnetHost(), path] : [path];

    /// <summary>An HttpClient whose connections are made from sockets created inside <paramref name="ns"/>.</summary>
    private static HttpClient HttpClientIn(TestNetns ns) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = ns.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true });
            try
            {
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    {
        Timeout = TimeSpan.FromSeconds(20),
    };
}

/// <summary>A minimal HTTP/1.1 server: every request gets 200 with body "TAG REMOTE-IP:PORT", then the connection closes.</summary>
internal sealed class MiniHttpServer : IDisposable
{
    private readonly Socket _listener;
    private readonly string _tag;
    private readonly CancellationTokenSource _stop = new();

    private MiniHttpServer(Socket listener, string tag)
    {
        _listener = listener;
        _tag = tag;
        _ = AcceptLoopAsync();
    }

    public static MiniHttpServer Listen(string tag, IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(endPoint);
        socket.Listen(64);
        return new MiniHttpServer(socket, tag);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await _listener.AcceptAsync(_stop.Token);
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
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                var head = new StringBuilder();
                var buffer = new byte[4096];
                while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    head.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }

                var remote = (IPEndPoint)socket.RemoteEndPoint!;
                var address = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
                var body = $"{_tag} {address}:{remote.Port}";
                await socket.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}"), SocketFlags.None, timeout.Token);
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
            }
        }
    }
}
