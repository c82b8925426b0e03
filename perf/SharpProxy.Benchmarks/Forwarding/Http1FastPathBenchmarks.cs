using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Http1;
using SharpProxy.Core.Listeners;
using SharpProxy.Core.Routing;
using SharpProxy.Core.Snapshot;
using SharpProxy.Core.Transport;

namespace SharpProxy.Benchmarks.Forwarding;

/// <summary>
/// One HTTP/1.1 request through the fast path, whole: a client socket writes the request, the fast path parses it,
/// routes it with the compiled route table, forwards it on its pooled keep-alive upstream connection to a loopback
/// upstream and relays the 12-byte response, which the client reads back. Everything but the proxy (client, upstream)
/// allocates nothing per request, so "Allocated" is the fast path's own (issue 3: zero on the steady-state path).
/// Socket completions run inline, as the proxy runs them (set by the benchmark process, see Program).
/// </summary>
[MemoryDiagnoser]
public class Http1FastPathBenchmarks
{
    private static readonly byte[] FewHeaders = Encoding.ASCII.GetBytes("GET /productpage HTTP/1.1\r\nHost: bookinfo.example.com\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n");

    private static readonly byte[] ManyHeaders = Encoding.ASCII.GetBytes(
        "GET /productpage?u=normal HTTP/1.1\r\nHost: bookinfo.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
        + "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
        + "Cookie: session=4f1c2a9b8e7d6c5b; theme=dark\r\nx-request-id: 6b1f0f8e-3c2d-4b5a-9e8f-7a6b5c4d3e2f\r\nx-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: https\r\n"
        + "x-b3-traceid: 80f198ee56343ba864fe8b2a57d3eff7\r\nx-b3-spanid: e457b5a2e4d86bd1\r\nx-b3-sampled: 1\r\nx-envoy-attempt-count: 1\r\nCache-Control: no-cache\r\nPragma: no-cache\r\nDNT: 1\r\n\r\n");

    // A 64 KiB upload: more than the connection's first read takes, so the rest of the body is streamed (the pump).
    private static readonly byte[] Post64KiB = PostWithBody(64 * 1024);

    private LoopbackUpstream _upstream = null!;
    private Socket _client = null!;
    private Task _served = Task.CompletedTask;
    private ProxySnapshot _snapshot = null!;
    private SocketEventLoops? _loops;
    private readonly byte[] _response = new byte[64 * 1024];

    [GlobalSetup]
    public void Setup()
    {
        _upstream = new LoopbackUpstream(bodyLength: 12);
        var route = new RouteConfig
        {
            Name = "productpage",
            Match = new RouteMatchConfig { Kind = PathMatchKind.Prefix, Value = "/" },
            Forward = new RouteActionConfig { Cluster = "upstream" },
        };
        var http = new HttpConnectionManagerConfig
        {
            StatPrefix = "bench",
            RouteConfig = new RouteTableConfig { Name = "bench", VirtualHosts = [new VirtualHostConfig { Name = "bench", Domains = ["*"], Routes = [route] }] },
        };
        var endpoint = new EndpointConfig { Address = "127.0.0.1", Port = _upstream.Port };
        var config = new ProxyConfig
        {
            Listeners = [new ListenerConfig { Name = "bench", Address = "127.0.0.1", Port = 0, FilterChains = [new FilterChainConfig { Http = http }] }],
            Clusters = [new ClusterConfig { Name = "upstream", Endpoints = ImmutableArray.Create(endpoint) }],
        };
        _snapshot = new SnapshotCompiler(1).Compile(config, previous: null);
        var fastPath = new Http1FastPath(new SnapshotHolder(_snapshot), new DispatchTransport(), SharedRandomSource.Instance, NullLogger.Instance);

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _client.Connect(listener.LocalEndPoint!);
        var server = listener.Accept();
        server.NoDelay = true;
        var feature = new ProxyConnectionFeature
        {
            ListenerName = "bench",
            FilterChainIndex = 0,
            Worker = 0,
            DestinationEndPoint = (IPEndPoint)server.LocalEndPoint!,
            RemoteEndPoint = (IPEndPoint)server.RemoteEndPoint!,
        };
        // The production setting: the connection lives on a worker's epoll loop (on Linux).
        _loops = SocketEventLoops.EnabledByEnvironment ? new SocketEventLoops(1) : null;
        _served = Http1Connection.RunAsync(fastPath, new LoopSocket(server, _loops?.For(0)), feature, sniffHttp2: false);
        if (Request(FewHeaders) != 200)
        {
            throw new InvalidOperationException("the fast path did not answer the upstream's 200");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.Dispose();
        _served.Wait(TimeSpan.FromSeconds(5));
        _loops?.Dispose();
        foreach (var cluster in _snapshot.Clusters)
        {
            cluster.Dispose();
        }

        _upstream.Dispose();
    }

    [Benchmark(Baseline = true)]
    public int Request_4Headers() => Request(FewHeaders);

    [Benchmark]
    public int Request_17Headers() => Request(ManyHeaders);

    [Benchmark]
    public int Request_Post64KiB() => Request(Post64KiB);

    private static byte[] PostWithBody(int length)
    {
        var head = Encoding.ASCII.GetBytes($"POST /upload HTTP/1.1\r\nHost: bookinfo.example.com\r\nUser-Agent: wrk\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n");
        var request = new byte[head.Length + length];
        head.CopyTo(request, 0);
        request.AsSpan(head.Length).Fill((byte)'x');
        return request;
    }

    /// <summary>Sends one request and reads the whole response (head plus the 12-byte body); returns the status code.</summary>
    private int Request(byte[] request)
    {
        _client.Send(request);
        var received = 0;
        while (true)
        {
            var read = _client.Receive(_response.AsSpan(received));
            if (read == 0)
            {
                throw new InvalidOperationException("the fast path closed the connection");
            }

            received += read;
            var headEnd = _response.AsSpan(0, received).IndexOf("\r\n\r\n"u8);
            if (headEnd >= 0 && received >= headEnd + 4 + 12)
            {
                return ((_response[9] - '0') * 100) + ((_response[10] - '0') * 10) + (_response[11] - '0');
            }
        }
    }
}
