using System.Net;
using System.Net.WebSockets;
using System.Text;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>WebSocket upgrade over HTTP/1.1 through the proxy (upgrade_configs: websocket) to the echo upstream.</summary>
public sealed class WebSocketTests(ForwardingProxyFixture fixture, ITestOutputHelper output) : IClassFixture<ForwardingProxyFixture>, IDisposable
{
    private ProxyTestBed Bed => fixture.Bed;

    public void Dispose()
    {
        try
        {
            output.WriteLine(fixture.Bed.Proxy.Describe(8 * 1024));
        }
        catch (InvalidOperationException)
        {
        }
    }

    [Fact]
    public async Task WebSocket_EchoThroughProxy_TextAndBinaryMessagesComeBackAndCloseCleanly()
    {
        using var socket = new ClientWebSocket();
        socket.Options.Proxy = null;
        socket.Options.CollectHttpResponseDetails = true;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var before = Bed.V1.RequestCount;

        try
        {
            await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{Bed.ListenerPort}/ws"), cts.Token);
        }
        catch (WebSocketException ex)
        {
            Assert.Fail($"Upgrade through the proxy failed: {ex.Message} (HTTP {(int)socket.HttpStatusCode}).\n{Bed.Proxy.Describe(8 * 1024)}");
        }

        Assert.Equal(HttpStatusCode.SwitchingProtocols, socket.HttpStatusCode);
        for (var i = 0; i < 5; i++)
        {
            var text = $"message {i} through the proxy";
            var echoed = await WebSocketEcho.RoundTripAsync(socket, Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, cts.Token);
            Assert.Equal(text, Encoding.UTF8.GetString(echoed));
        }

        var binary = new byte[300_000];
        TestPattern.Fill(binary, 0);
        Assert.Equal(binary, await WebSocketEcho.RoundTripAsync(socket, binary, WebSocketMessageType.Binary, cts.Token));

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
        Assert.Equal(WebSocketState.Closed, socket.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        Assert.Equal(before + 1, Bed.V1.RequestCount);
    }
}
