using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests.Http2;

/// <summary>
/// The event loop's HTTP/2 path at the frame level, with a raw client: bad input gets the stream or connection error
/// RFC 9113 names (never a hang), and flow control paces the response. Fast-path assembly only (frame-level details
/// such as which error code answers which mistake are this implementation's).
/// </summary>
public sealed class Http2ProtocolTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private const byte Data = 0x0;
    private const byte Headers = 0x1;
    private const byte RstStream = 0x3;
    private const byte Settings = 0x4;
    private const byte Ping = 0x6;
    private const byte GoAway = 0x7;
    private const byte WindowUpdate = 0x8;

    [Fact]
    public async Task FieldValueWithCrLf_StreamResetWithProtocolError_ConnectionKeepsServing()
    {
        await using var bed = await StartAsync();
        await using var client = await RawH2Client.ConnectAsync(bed.ListenerPort);

        await client.SendAsync(Headers, 0x5, 1, Request("GET", "/bad", ("x-bad", "a\r\nb")));
        var reset = await client.ReadUntilAsync(f => f.StreamId == 1, Timeout);
        Assert.Equal(RstStream, reset.Type);
        Assert.Equal(1, reset.Code);

        await client.SendAsync(Headers, 0x5, 3, Request("GET", "/good"));
        var response = await client.ReadUntilAsync(f => f.StreamId == 3, Timeout);
        Assert.Equal(Headers, response.Type);
        Assert.Equal(0x88, response.Payload[0]); // :status 200, static table index 8
    }

    [Fact]
    public async Task UpperCaseFieldName_StreamResetWithProtocolError()
    {
        await using var bed = await StartAsync();
        await using var client = await RawH2Client.ConnectAsync(bed.ListenerPort);

        await client.SendAsync(Headers, 0x5, 1, Request("GET", "/upper", ("X-Upper", "1")));

        var reset = await client.ReadUntilAsync(f => f.StreamId == 1, Timeout);
        Assert.Equal(RstStream, reset.Type);
        Assert.Equal(1, reset.Code);
    }

    [Fact]
    public async Task ContentLengthLongerThanTheBody_StreamResetWithProtocolError()
    {
        await using var bed = await StartAsync();
        await using var client = await RawH2Client.ConnectAsync(bed.ListenerPort);

        await client.SendAsync(Headers, 0x4, 1, Request("POST", "/short", ("content-length", "10")));
        await client.SendAsync(Data, 0x1, 1, "12345"u8.ToArray());

        var reset = await client.ReadUntilAsync(f => f.StreamId == 1, Timeout);
        Assert.Equal(RstStream, reset.Type);
        Assert.Equal(1, reset.Code);
    }

    [Fact]
    public async Task DataOnStreamZero_GoAwayWithProtocolError_ThenTheConnectionCloses()
    {
        await using var bed = await StartAsync();
        await using var client = await RawH2Client.ConnectAsync(bed.ListenerPort);

        await client.SendAsync(Data, 0, 0, "x"u8.ToArray());

        var goAway = await client.ReadUntilAsync(f => f.Type == GoAway, Timeout);
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(goAway.Payload.AsSpan(4)));
        Assert.True(await client.ClosedAsync(Timeout), "the connection closes after GOAWAY");
    }

    [Fact]
    public async Task UndecodableHeaderBlock_GoAwayWithCompressionError()
    {
        await using var bed = await StartAsync();
        await using var client = await RawH2Client.ConnectAsync(bed.ListenerPort);

        // Indexed field 0 does not exist (RFC 7541 section 6.1).
        await client.SendAsync(Headers, 0x5, 1, [0x80]);

        var goAway = await client.ReadUntilAsync(f => f.Type == GoAway, Timeout);
        Assert.Equal(9, BinaryPrimitives.ReadInt32BigEndian(goAway.Payload.AsSpan(4)));
        Assert.True(await client.ClosedAsync(Timeout), "the connection closes after GOAWAY");
    }

    [Fact]
    public async Task Ping_AnsweredWithTheSamePayload()
    {
        await using var bed = await StartAsync();
        await using var client = await RawH2Client.ConnectAsync(bed.ListenerPort);
        byte[] payload = [1, 2, 3, 4, 5, 6, 7, 8];

        await client.SendAsync(Ping, 0, 0, payload);

        var ack = await client.ReadUntilAsync(f => f.Type == Ping, Timeout);
        Assert.Equal(0x1, ack.Flags);
        Assert.Equal(payload, ack.Payload);
    }

    [Fact]
    public async Task SmallStreamWindow_ResponseDataWaitsForWindowUpdates_ThenCompletes()
    {
        await using var bed = await StartAsync();

        // The client allows 1,000 bytes per stream until it says more.
        await using var client = await RawH2Client.ConnectAsync(bed.ListenerPort, initialWindow: 1000);
        await client.SendAsync(Headers, 0x5, 1, Request("GET", "/bytes/5000"));

        var received = 0;
        while (received < 1000)
        {
            var frame = await client.ReadUntilAsync(f => f.StreamId == 1 && f.Type == Data, Timeout);
            received += frame.Payload.Length;
        }

        Assert.Equal(1000, received);
        Assert.Null(await client.TryReadUntilAsync(f => f.StreamId == 1 && f.Type == Data, TimeSpan.FromMilliseconds(300)));

        var increment = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(increment, 4000);
        await client.SendAsync(WindowUpdate, 0, 1, increment);
        var ended = false;
        while (!ended)
        {
            var frame = await client.ReadUntilAsync(f => f.StreamId == 1 && f.Type == Data, Timeout);
            received += frame.Payload.Length;
            ended = (frame.Flags & 0x1) != 0;
        }

        Assert.Equal(5000, received);
    }

    [Fact]
    public async Task Sigterm_OpenConnection_GetsGoAwayWithNoError_AndTheProxyExitsWithoutTheDrainTime()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1", "v2"], u => ConfigTemplates.WriteCanary(u[0], u[1]), ["--drain-time-s", "10"]);
        await using var client = await RawH2Client.ConnectAsync(bed.ListenerPort);
        await client.SendAsync(Headers, 0x5, 1, Request("GET", "/before-drain"));
        Assert.Equal(Headers, (await client.ReadUntilAsync(f => f.StreamId == 1, Timeout)).Type);

        var started = System.Diagnostics.Stopwatch.StartNew();
        bed.Proxy.SendSigterm();

        var goAway = await client.ReadUntilAsync(f => f.Type == GoAway, Timeout);
        Assert.Equal(0, BinaryPrimitives.ReadInt32BigEndian(goAway.Payload.AsSpan(4)));
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(goAway.Payload) & 0x7fffffff);
        Assert.True(await client.ClosedAsync(Timeout), "an idle connection closes after its GOAWAY");
        Assert.True(await bed.Proxy.WaitForExitAsync(TimeSpan.FromSeconds(15)), "the proxy exits after SIGTERM");
        Assert.True(started.ElapsedMilliseconds < 8_000, $"exit took {started.ElapsedMilliseconds} ms: the open HTTP/2 connection held the drain");
    }

    private static Task<ProxyTestBed> StartAsync() =>
        ProxyTestBed.StartAsync(["v1", "v2"], u => ConfigTemplates.WriteCanary(u[0], u[1]));

    /// <summary>A header block of literal fields without indexing, raw strings (every length below 127).</summary>
    private static byte[] Request(string method, string path, params (string Name, string Value)[] fields)
    {
        var block = new List<byte>();
        Add(":method", method);
        Add(":scheme", "http");
        Add(":path", path);
        Add(":authority", "h2.test");
        foreach (var (name, value) in fields)
        {
            Add(name, value);
        }

        return [.. block];

        void Add(string name, string value)
        {
            block.Add(0x00);
            block.Add((byte)name.Length);
            block.AddRange(Encoding.ASCII.GetBytes(name));
            block.Add((byte)value.Length);
            block.AddRange(Encoding.ASCII.GetBytes(value));
        }
    }

    private sealed record Frame(byte Type, byte Flags, int StreamId, byte[] Payload)
    {
        public int Code => Payload.Length >= 4 ? BinaryPrimitives.ReadInt32BigEndian(Payload) : -1;
    }

    /// <summary>A minimal HTTP/2 client over a socket: writes frames, reads and filters frames.</summary>
    private sealed class RawH2Client : IAsyncDisposable
    {
        private readonly Socket _socket;
        private readonly NetworkStream _stream;

        private RawH2Client(Socket socket)
        {
            _socket = socket;
            _stream = new NetworkStream(socket, ownsSocket: true);
        }

        public static async Task<RawH2Client> ConnectAsync(int port, int initialWindow = 65535)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            var client = new RawH2Client(socket);
            await client._stream.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray());
            var settings = new byte[6];
            BinaryPrimitives.WriteUInt16BigEndian(settings, 0x4);
            BinaryPrimitives.WriteInt32BigEndian(settings.AsSpan(2), initialWindow);
            await client.SendAsync(Settings, 0, 0, settings);
            return client;
        }

        public async Task SendAsync(byte type, byte flags, int streamId, byte[] payload)
        {
            var frame = new byte[9 + payload.Length];
            frame[0] = (byte)(payload.Length >> 16);
            frame[1] = (byte)(payload.Length >> 8);
            frame[2] = (byte)payload.Length;
            frame[3] = type;
            frame[4] = flags;
            BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId);
            payload.CopyTo(frame, 9);
            await _stream.WriteAsync(frame);
        }

        public async Task<Frame> ReadUntilAsync(Func<Frame, bool> wanted, TimeSpan timeout) =>
            await TryReadUntilAsync(wanted, timeout) ?? throw new TimeoutException($"no such frame within {timeout} (or the connection closed)");

        /// <summary>The first frame <paramref name="wanted"/> accepts, or null on timeout or end of stream.</summary>
        public async Task<Frame?> TryReadUntilAsync(Func<Frame, bool> wanted, TimeSpan timeout)
        {
            using var cancel = new CancellationTokenSource(timeout);
            try
            {
                while (true)
                {
                    var frame = await ReadFrameAsync(cancel.Token);
                    if (frame is null)
                    {
                        return null;
                    }

                    if (frame.Type == Settings && (frame.Flags & 0x1) == 0)
                    {
                        await SendAsync(Settings, 0x1, 0, []);
                    }

                    if (wanted(frame))
                    {
                        return frame;
                    }
                }
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }

        /// <summary>True once the server closed its side (frames before the end are skipped).</summary>
        public async Task<bool> ClosedAsync(TimeSpan timeout)
        {
            using var cancel = new CancellationTokenSource(timeout);
            try
            {
                while (await ReadFrameAsync(cancel.Token) is not null)
                {
                }

                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            catch (IOException)
            {
                return true;
            }
        }

        private async Task<Frame?> ReadFrameAsync(CancellationToken cancellationToken)
        {
            var header = new byte[9];
            if (!await ReadExactlyOrEndAsync(header, cancellationToken))
            {
                return null;
            }

            var length = (header[0] << 16) | (header[1] << 8) | header[2];
            var payload = new byte[length];
            if (length > 0 && !await ReadExactlyOrEndAsync(payload, cancellationToken))
            {
                return null;
            }

            return new Frame(header[3], header[4], BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & 0x7fffffff, payload);
        }

        private async Task<bool> ReadExactlyOrEndAsync(byte[] buffer, CancellationToken cancellationToken)
        {
            var total = 0;
            while (total < buffer.Length)
            {
                var read = await _stream.ReadAsync(buffer.AsMemory(total), cancellationToken);
                if (read == 0)
                {
                    return false;
                }

                total += read;
            }

            return true;
        }

        public async ValueTask DisposeAsync()
        {
            await _stream.DisposeAsync();
            _socket.Dispose();
        }
    }
}
