using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using Microsoft.AspNetCore.Http;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Benchmarks.Forwarding;

/// <summary>
/// What the forwarding benchmarks share: a one-route config, a cluster with one loopback host, downstream requests
/// shaped like real clients' (few headers from curl/wrk, many from a browser behind an Istio ingress), and typed
/// delegates onto HttpForwarder's private helpers so the benchmarks run the real code (bound once, called directly).
/// </summary>
internal static class ForwardingFixture
{
    public static readonly HttpConnectionManagerConfig Http = new() { StatPrefix = "bench", GenerateRequestId = false };

    public static readonly RouteConfig Route = new()
    {
        Name = "all",
        Match = new RouteMatchConfig { Kind = PathMatchKind.Prefix, Value = "/" },
        Forward = new RouteActionConfig { Cluster = "upstream" },
    };

    public static readonly VirtualHostConfig VirtualHost = new() { Name = "bench", Domains = ["*"], Routes = [Route] };

    public static readonly RouteTableConfig Table = new() { Name = "bench", VirtualHosts = [VirtualHost] };

    public static ClusterState Cluster(int port)
    {
        var endpoint = new EndpointConfig { Address = "127.0.0.1", Port = port };
        var config = new ClusterConfig { Name = "upstream", Endpoints = ImmutableArray.Create(endpoint) };
        var host = new HostState(endpoint, new IPEndPoint(IPAddress.Loopback, port));
        return new ClusterState(config, [host], workers: 1, fingerprint: "bench");
    }

    /// <summary>The ForwardContext the pipeline builds for a GET routed to the cluster's only host.</summary>
    public static ForwardContext Forward(ClusterState cluster, string path) => new()
    {
        Http = Http,
        Cluster = cluster,
        Host = cluster.Hosts[0],
        Worker = 0,
        Path = path,
        Query = "",
        Authority = "reviews.default.svc.cluster.local:9080",
        Timeout = TimeSpan.FromSeconds(15),
        IsGrpc = false,
        AllowWebSocket = false,
        Table = Table,
        VirtualHost = VirtualHost,
        Route = Route,
    };

    /// <summary>curl/wrk-like: Host, User-Agent, Accept.</summary>
    public static void AddFewHeaders(IHeaderDictionary headers)
    {
        headers.Host = "reviews.default.svc.cluster.local:9080";
        headers.UserAgent = "curl/8.5.0";
        headers.Accept = "*/*";
    }

    /// <summary>A browser request after an Istio ingress: 16 headers including tracing, forwarding and a cookie.</summary>
    public static void AddManyHeaders(IHeaderDictionary headers)
    {
        AddFewHeaders(headers);
        headers.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
        headers.Accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        headers.AcceptEncoding = "gzip, deflate, br";
        headers.AcceptLanguage = "en-US,en;q=0.9";
        headers.Cookie = "session=4f2a9c1e7b; theme=dark";
        headers.CacheControl = "no-cache";
        headers["x-request-id"] = "0b8c6f3e-5e2d-4d7a-9b61-2f8e1d4c7a90";
        headers["x-b3-traceid"] = "80f198ee56343ba864fe8b2a57d3eff7";
        headers["x-b3-spanid"] = "e457b5a2e4d86bd1";
        headers["x-b3-parentspanid"] = "05e3ac9a4f6e3b90";
        headers["x-b3-sampled"] = "1";
        headers["x-forwarded-for"] = "203.0.113.7";
        headers["x-forwarded-proto"] = "https";
        headers["x-envoy-attempt-count"] = "1";
    }

    public static DefaultHttpContext Context(Action<IHeaderDictionary> addHeaders, string path)
    {
        var context = new DefaultHttpContext();
        var request = context.Request;
        request.Method = HttpMethods.Get;
        request.Scheme = "http";
        request.Protocol = "HTTP/1.1";
        request.Path = path;
        addHeaders(request.Headers);
        context.Connection.RemoteIpAddress = IPAddress.Loopback;
        context.Response.Body = Stream.Null;
        return context;
    }

    public delegate HttpRequestMessage CreateRequestCall(HttpContext context, ForwardContext forward, HostState host, bool isWebSocket, HttpContent? content);

    public delegate void CopyResponseHeadersCall(HttpContext context, ForwardContext forward, HttpResponseMessage response);

    public static T Bind<T>(string name)
        where T : Delegate
    {
        var method = typeof(HttpForwarder).GetMethod(name, BindingFlags.NonPublic | BindingFlags.Static)
            ?? throw new InvalidOperationException($"HttpForwarder.{name} is gone; update perf/SharpProxy.Benchmarks/Forwarding to the new code");
        try
        {
            return method.CreateDelegate<T>();
        }
        catch (ArgumentException ex)
        {
            throw new InvalidOperationException($"HttpForwarder.{name} changed its signature; update perf/SharpProxy.Benchmarks/Forwarding", ex);
        }
    }
}

/// <summary>
/// A loopback HTTP/1.1 upstream that allocates nothing per request (so the memory diagnoser, which counts every thread,
/// sees only the proxy's allocations): one blocking thread per connection, a fixed buffer, a prebuilt response.
/// Each "\r\n\r\n" ends a request head; a content-length body is read whole before the response.
/// </summary>
internal sealed class LoopbackUpstream : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly List<Socket> _connections = [];
    private readonly byte[] _response;

    public LoopbackUpstream(int bodyLength)
    {
        var head = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: text/plain\r\nContent-Length: {bodyLength}\r\n\r\n");
        _response = new byte[head.Length + bodyLength];
        head.CopyTo(_response, 0);
        _response.AsSpan(head.Length).Fill((byte)'x');
        if (bodyLength >= 12)
        {
            "hello world\n"u8.CopyTo(_response.AsSpan(head.Length));
        }

        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        new Thread(AcceptLoop) { IsBackground = true, Name = "bench upstream accept" }.Start();
    }

    public int Port { get; }

    public void Dispose()
    {
        _listener.Dispose();
        lock (_connections)
        {
            foreach (var connection in _connections)
            {
                connection.Dispose();
            }
        }
    }

    private void AcceptLoop()
    {
        while (true)
        {
            Socket connection;
            try
            {
                connection = _listener.Accept();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return;
            }

            connection.NoDelay = true;
            lock (_connections)
            {
                _connections.Add(connection);
            }

            new Thread(() => Serve(connection)) { IsBackground = true, Name = "bench upstream connection" }.Start();
        }
    }

    private void Serve(Socket connection)
    {
        var buffer = new byte[16 * 1024];
        var head = new byte[4 * 1024];
        var headLength = 0;
        var matched = 0; // how much of "\r\n\r\n" the bytes so far end with
        long bodyLeft = 0;
        try
        {
            while (true)
            {
                var read = connection.Receive(buffer);
                if (read == 0)
                {
                    return;
                }

                for (var i = 0; i < read; i++)
                {
                    if (bodyLeft > 0)
                    {
                        // A request body is read whole before the response, as most servers do.
                        var skip = (int)Math.Min(bodyLeft, read - i);
                        bodyLeft -= skip;
                        i += skip - 1;
                        if (bodyLeft == 0)
                        {
                            connection.Send(_response);
                        }

                        continue;
                    }

                    var b = buffer[i];
                    if (headLength < head.Length)
                    {
                        head[headLength++] = b;
                    }

                    matched = (b == '\r' && (matched == 0 || matched == 2)) || (b == '\n' && (matched == 1 || matched == 3)) ? matched + 1 : (b == '\r' ? 1 : 0);
                    if (matched == 4)
                    {
                        matched = 0;
                        bodyLeft = ContentLength(head.AsSpan(0, headLength));
                        headLength = 0;
                        if (bodyLeft == 0)
                        {
                            connection.Send(_response);
                        }
                    }
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The benchmark is over.
        }
    }

    /// <summary>The request's content-length (the proxy writes it in lower case), 0 without one.</summary>
    private static long ContentLength(ReadOnlySpan<byte> head)
    {
        var at = head.IndexOf("\ncontent-length: "u8);
        if (at < 0)
        {
            return 0;
        }

        long length = 0;
        for (var i = at + 17; i < head.Length && head[i] >= '0' && head[i] <= '9'; i++)
        {
            length = (length * 10) + (head[i] - '0');
        }

        return length;
    }
}
