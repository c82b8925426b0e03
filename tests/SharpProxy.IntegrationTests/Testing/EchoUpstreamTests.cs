using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests.Testing;

/// <summary>The echo upstream on its own (no proxy): the end-to-end tests trust what it reports.</summary>
public sealed class EchoUpstreamTests : IAsyncLifetime
{
    private EchoUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await EchoUpstream.StartAsync("v1");

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    [Fact]
    public void Start_TwoEndpoints_DistinctPortsChosenByTheOs()
    {
        Assert.NotEqual(0, _upstream.Http1Port);
        Assert.NotEqual(0, _upstream.Http2Port);
        Assert.NotEqual(_upstream.Http1Port, _upstream.Http2Port);
    }

    [Fact]
    public async Task Get_Http1_ReturnsEchoJsonWithLabelPathQueryAndHeaders()
    {
        using var client = TestHttp.Http1(_upstream.Http1Uri);
        using var request = client.CreateRequest(HttpMethod.Get, "/some/path?x=1&y=two");
        request.Headers.Add("x-test", ["a", "b"]);
        using var response = await client.SendAsync(request);
        var echo = await EchoResponse.ReadAsync(response);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("v1", Assert.Single(response.Headers.GetValues(EchoUpstream.LabelHeader)));
        Assert.Equal("v1", echo.Label);
        Assert.Equal("GET", echo.Method);
        Assert.Equal("/some/path?x=1&y=two", echo.Path);
        Assert.Equal("x=1&y=two", echo.Query);
        Assert.Equal("HTTP/1.1", echo.Protocol);
        Assert.Equal("a, b", echo.Header("X-Test"));
        Assert.Equal($"127.0.0.1:{_upstream.Http1Port}", echo.Header("host"));
        Assert.Equal(0, echo.BodyLength);
        Assert.Equal(1, _upstream.RequestCount);
    }

    [Fact]
    public async Task Get_H2cPriorKnowledge_ReportsHttp2()
    {
        using var client = TestHttp.H2c(_upstream.Http2Uri);
        using var response = await client.GetAsync("/h2");
        var echo = await EchoResponse.ReadAsync(response);

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("HTTP/2", echo.Protocol);
    }

    [Fact]
    public async Task Post_BodyWithAndWithoutLength_LengthAndHashReported()
    {
        using var client = TestHttp.Http1(_upstream.Http1Uri);
        foreach (var withLength in new[] { true, false })
        {
            using var content = new PatternContent(1_000_003, withLength);
            using var response = await client.PostAsync("/sink", content);
            var echo = await EchoResponse.ReadAsync(response);

            Assert.Equal(1_000_003, echo.BodyLength);
            Assert.Equal(content.Sha256Hex, echo.BodySha256);
            Assert.Equal(PatternContent.ComputeSha256Hex(1_000_003), echo.BodySha256);
            Assert.Equal(withLength ? null : "chunked", echo.Header("transfer-encoding"));
        }
    }

    [Theory]
    [InlineData(201)]
    [InlineData(404)]
    [InlineData(503)]
    public async Task Get_StatusPath_ReturnsThatStatus(int code)
    {
        using var client = TestHttp.Http1(_upstream.Http1Uri);
        using var response = await client.GetAsync($"/status/{code}");
        var echo = await EchoResponse.ReadAsync(response);

        Assert.Equal(code, (int)response.StatusCode);
        Assert.Equal("v1", echo.Label);
    }

    [Fact]
    public async Task Get_Delay_WaitsAtLeastThatLong()
    {
        using var client = TestHttp.Http1(_upstream.Http1Uri);
        var stopwatch = Stopwatch.StartNew();
        using var response = await client.GetAsync("/delay/300");
        stopwatch.Stop();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.InRange(stopwatch.ElapsedMilliseconds, 290, 10_000);
    }

    [Fact]
    public async Task Get_Bytes_StreamsPatternWithContentLength()
    {
        const long length = (3 * EchoUpstream.ChunkSize) + 17;
        using var client = TestHttp.H2c(_upstream.Http2Uri);
        using var response = await client.GetAsync($"/bytes/{length}", HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();

        Assert.Equal(length, response.Content.Headers.ContentLength);
        Assert.Equal(length, await PatternReader.ReadAndVerifyAsync(stream, CancellationToken.None));
    }

    [Fact]
    public async Task Post_Echo_BodyComesBackIdentical()
    {
        using var client = TestHttp.Http1(_upstream.Http1Uri);
        using var content = new PatternContent(500_000);
        using var response = await client.PostAsync("/echo", content);
        await using var stream = await response.Content.ReadAsStreamAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(500_000, await PatternReader.ReadAndVerifyAsync(stream, CancellationToken.None));
    }

    [Fact]
    public async Task Get_TrailersOverHttp2_TrailerReceived()
    {
        using var client = TestHttp.H2c(_upstream.Http2Uri);
        using var response = await client.GetAsync("/trailers");
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(EchoUpstream.TrailersBody, body);
        Assert.Equal(EchoUpstream.TrailerValue, Assert.Single(response.TrailingHeaders.GetValues(EchoUpstream.TrailerName)));
    }

    [Fact]
    public async Task WebSocket_TextAndBinary_Echoed()
    {
        using var socket = new ClientWebSocket();
        socket.Options.Proxy = null;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{_upstream.Http1Port}/ws"), cts.Token);

        var text = await WebSocketEcho.RoundTripAsync(socket, Encoding.UTF8.GetBytes("hello"), WebSocketMessageType.Text, cts.Token);
        var binary = await WebSocketEcho.RoundTripAsync(socket, new byte[100_000], WebSocketMessageType.Binary, cts.Token);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);

        Assert.Equal("hello", Encoding.UTF8.GetString(text));
        Assert.Equal(100_000, binary.Length);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }

    [Fact]
    public async Task CloseConnections_DuringDelay_RequestFails()
    {
        using var client = TestHttp.Http1(_upstream.Http1Uri);
        var pending = client.GetAsync("/delay/10000");
        await Polling.UntilAsync(() => _upstream.InFlightCount == 1, TimeSpan.FromSeconds(5), "the delayed request to arrive");

        Assert.Equal(1, _upstream.CloseConnections());
        await Assert.ThrowsAsync<HttpRequestException>(() => pending);
    }

    [Fact]
    public async Task Stop_ThenConnect_Refused()
    {
        var port = _upstream.Http1Port;
        await _upstream.StopAsync();

        Assert.Equal(ConnectOutcome.Refused, await TcpProbe.TryConnectAsync(port, TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task RawHttp_MalformedHeaderLine_KestrelAnswers400()
    {
        var response = await RawHttp.SendAsync(_upstream.Http1Port, "GET / HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n", TimeSpan.FromSeconds(5));

        Assert.Equal(400, response.StatusCode);
    }

    [Fact]
    public async Task RawHttp_Get_ParsesEchoBody()
    {
        var response = await RawHttp.SendAsync(_upstream.Http1Port, "GET /raw HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n", TimeSpan.FromSeconds(5));
        var echo = EchoResponse.Parse(response.BodyText);

        Assert.Equal(200, response.StatusCode);
        Assert.Equal("/raw", echo.Path);
        Assert.Equal("trailers", echo.Header("te"));
    }

    [Fact]
    public async Task TcpProbe_ClosedPort_Refused()
    {
        var port = await TcpProbe.GetClosedPortAsync();

        Assert.Equal(ConnectOutcome.Refused, await TcpProbe.TryConnectAsync(port, TimeSpan.FromSeconds(2)));
        Assert.Equal(ConnectOutcome.Connected, await TcpProbe.TryConnectAsync(_upstream.Http1Port, TimeSpan.FromSeconds(2)));
    }
}
