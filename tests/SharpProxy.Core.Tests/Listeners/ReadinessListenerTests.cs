using System.Net;
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
}
