using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using SharpProxy.Core.Listeners;

namespace SharpProxy.Core.Tests.Listeners;

public sealed class ReadinessListenerTests
{
    [Theory]
    [InlineData("GET /healthz/ready HTTP/1.1", true, 200)]
    [InlineData("GET /healthz/ready HTTP/1.1", false, 503)]
    [InlineData("HEAD /healthz/ready?x=1 HTTP/1.1", true, 200)]
    [InlineData("GET /healthz/live HTTP/1.1", true, 404)]
    [InlineData("POST /healthz/ready HTTP/1.1", true, 405)]
    [InlineData("garbage", true, 400)]
    public void Classify_RequestLine_Status(string requestLine, bool ready, int status)
    {
        var head = Encoding.ASCII.GetBytes(requestLine + "\r\nhost: x\r\n\r\n");

        Assert.Equal(status, ReadinessListener.Classify(head, ready).Status);
    }

    [Fact]
    public async Task Get_FollowsReadinessFunction()
    {
        var ready = false;
        using var listener = ReadinessListener.Bind("127.0.0.1", 0, () => Volatile.Read(ref ready), NullLogger.Instance);
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var url = $"http://127.0.0.1:{listener.LocalEndPoint.Port}/healthz/ready";

        using var before = await client.GetAsync(url);
        Volatile.Write(ref ready, true);
        using var after = await client.GetAsync(url);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, before.StatusCode);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task Head_HeadersWithoutBody()
    {
        using var listener = ReadinessListener.Bind("127.0.0.1", 0, () => true, NullLogger.Instance);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, listener.LocalEndPoint.Port));
        await socket.SendAsync("HEAD /healthz/ready HTTP/1.1\r\nhost: x\r\n\r\n"u8.ToArray(), SocketFlags.None);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var response = new StringBuilder();
        var buffer = new byte[1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            response.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", response.ToString(), StringComparison.Ordinal);
        Assert.Contains("content-length: 5\r\n", response.ToString(), StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n", response.ToString(), StringComparison.Ordinal);
    }
}
