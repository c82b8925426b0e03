using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using SharpProxy.Core.Listeners;

namespace SharpProxy.Core.Tests.Tls;

/// <summary>ClientHello parsing on real handshakes (.NET's SslStream as client) and on non-TLS bytes.</summary>
public sealed class TlsInspectorTests
{
    [Fact]
    public async Task PeekAsync_RealClientHello_SniAlpnAndBytesLeftInSocket()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndPoint!);
        using var server = await listener.AcceptAsync();
        await using var ssl = new SslStream(client.GetStream());
        using var cancel = new CancellationTokenSource();
        var handshake = ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "API.Example.COM",
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        }, cancel.Token);

        var hello = await TlsInspector.PeekAsync(server, TimeSpan.FromSeconds(10));

        Assert.NotNull(hello);
        Assert.True(hello.IsTls);
        Assert.Equal("tls", hello.TransportProtocol);
        Assert.Equal("api.example.com", hello.ServerName);
        Assert.Equal(["h2", "http/1.1"], hello.ApplicationProtocols);

        // Peeked, not read: the handshake record is still there.
        var first = new byte[1];
        Assert.Equal(1, await server.ReceiveAsync(first, SocketFlags.None));
        Assert.Equal(22, first[0]);

        server.Close();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<Exception>(() => handshake);
    }

    [Fact]
    public async Task PeekAsync_SilentClient_TimesOut()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndPoint!);
        using var server = await listener.AcceptAsync();

        var hello = await TlsInspector.PeekAsync(server, TimeSpan.FromMilliseconds(200));

        Assert.Same(ClientHelloInfo.TimedOut, hello);
    }

    [Fact]
    public void Parse_PlainHttp_NotTls()
    {
        var result = TlsInspector.Parse("GET / HTTP/1.1\r\n"u8, out var info, out _);

        Assert.Equal(TlsInspector.ParseResult.NotTls, result);
        Assert.Null(info);
    }

    [Fact]
    public void Parse_PartialRecord_AsksForTheWholeRecord()
    {
        byte[] header = [22, 3, 1, 0x02, 0x00];

        var result = TlsInspector.Parse(header, out _, out var needed);

        Assert.Equal(TlsInspector.ParseResult.NeedMoreData, result);
        Assert.Equal(5 + 0x200, needed);
    }

    [Fact]
    public void Parse_ClientHelloWithoutExtensions_TlsWithoutSni()
    {
        // ClientHello: version, 32-byte random, empty session id, one cipher suite, one compression method, no extensions.
        var body = new List<byte> { 3, 3 };
        body.AddRange(new byte[32]);
        body.AddRange([0, 0, 2, 0x13, 0x01, 1, 0]);
        var handshake = new List<byte> { 1, 0, 0, (byte)body.Count };
        handshake.AddRange(body);
        var record = new List<byte> { 22, 3, 1, 0, (byte)handshake.Count };
        record.AddRange(handshake);

        var result = TlsInspector.Parse(record.ToArray(), out var info, out _);

        Assert.Equal(TlsInspector.ParseResult.ClientHello, result);
        Assert.True(info!.IsTls);
        Assert.Null(info.ServerName);
        Assert.Empty(info.ApplicationProtocols);
    }
}
