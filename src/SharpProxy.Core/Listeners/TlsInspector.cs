using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace SharpProxy.Core.Listeners;

/// <summary>What Envoy's tls_inspector learns from the first bytes of a connection.</summary>
internal sealed class ClientHelloInfo
{
    public static readonly ClientHelloInfo NotTls = new(false, null, []);

    /// <summary>Nothing arrived within listener_filters_timeout (see continue_on_listener_filters_timeout).</summary>
    public static readonly ClientHelloInfo TimedOut = new(false, null, []);

    public ClientHelloInfo(bool isTls, string? serverName, string[] applicationProtocols)
    {
        IsTls = isTls;
        ServerName = serverName;
        ApplicationProtocols = applicationProtocols;
    }

    /// <summary>A TLS ClientHello: transport protocol "tls"; otherwise "raw_buffer".</summary>
    public bool IsTls { get; }

    /// <summary>SNI, lower-cased; null when the client sent none.</summary>
    public string? ServerName { get; }

    /// <summary>The ALPN protocols the client offers, in its order.</summary>
    public string[] ApplicationProtocols { get; }

    public string TransportProtocol => IsTls ? "tls" : "raw_buffer";
}

/// <summary>
/// Envoy's tls_inspector: peeks (MSG_PEEK) at the connection's first bytes and parses a TLS ClientHello for the server
/// name and ALPN, leaving every byte in the socket (a passthrough chain relays them untouched, a terminating one
/// hands them to the TLS handshake).
/// </summary>
internal static class TlsInspector
{
    /// <summary>Envoy's default max ClientHello size.</summary>
    private const int MaxClientHelloSize = 64 * 1024;

    /// <summary>Envoy's default listener_filters_timeout.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    public enum ParseResult
    {
        NeedMoreData,
        NotTls,
        ClientHello,
    }

    /// <returns>
    /// Null when the peer closed; <see cref="ClientHelloInfo.TimedOut"/> when it stayed silent past
    /// <paramref name="timeout"/> (the listener then drops the connection or, with continue_on_listener_filters_timeout,
    /// carries on as raw_buffer).
    /// </returns>
    public static ValueTask<ClientHelloInfo?> PeekAsync(Socket socket, TimeSpan timeout) =>
        PeekAsync(new Transport.LoopSocket(socket, loop: null), timeout);

    /// <inheritdoc cref="PeekAsync(Socket, TimeSpan)"/>
    public static async ValueTask<ClientHelloInfo?> PeekAsync(Transport.LoopSocket socket, TimeSpan timeout)
    {
        socket.BeginPeeks();
        using var expiry = new CancellationTokenSource(timeout);
        var buffer = new byte[1024];
        var previous = -1;
        try
        {
            while (true)
            {
                var peeked = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.Peek, expiry.Token).ConfigureAwait(false);
                if (peeked == 0)
                {
                    return null;
                }

                var result = Parse(buffer.AsSpan(0, peeked), out var info, out var needed);
                if (result == ParseResult.NotTls)
                {
                    return ClientHelloInfo.NotTls;
                }

                if (result == ParseResult.ClientHello)
                {
                    return info;
                }

                if (needed > MaxClientHelloSize)
                {
                    return ClientHelloInfo.NotTls;
                }

                if (needed > buffer.Length)
                {
                    Array.Resize(ref buffer, needed);
                }
                else if (peeked == previous && socket.Loop is null)
                {
                    // On .NET's engine a peek returns at once while unread bytes wait: pause briefly until more arrive
                    // (on an event loop a short peek already waits for new bytes).
                    await Task.Delay(5, expiry.Token).ConfigureAwait(false);
                }

                previous = peeked;
            }
        }
        catch (OperationCanceledException)
        {
            return ClientHelloInfo.TimedOut;
        }
    }

    /// <summary>
    /// Parses a ClientHello held in the first TLS record(s). <paramref name="needed"/> is the byte count to peek next
    /// when the answer is <see cref="ParseResult.NeedMoreData"/>.
    /// </summary>
    public static ParseResult Parse(ReadOnlySpan<byte> data, out ClientHelloInfo? info, out int needed)
    {
        info = null;
        needed = 0;

        // Record header: content type 22 (handshake), legacy version 3.x, length.
        if (data.Length < 1)
        {
            needed = 5;
            return ParseResult.NeedMoreData;
        }

        if (data[0] != 22)
        {
            return ParseResult.NotTls;
        }

        if (data.Length < 5)
        {
            needed = 5;
            return data.Length >= 2 && data[1] != 3 ? ParseResult.NotTls : ParseResult.NeedMoreData;
        }

        if (data[1] != 3)
        {
            return ParseResult.NotTls;
        }

        // The handshake message may span records: gather the handshake bytes of consecutive handshake records.
        var handshake = new List<byte>();
        var offset = 0;
        var messageLength = -1;
        while (true)
        {
            if (data.Length < offset + 5)
            {
                needed = offset + 5;
                return ParseResult.NeedMoreData;
            }

            if (data[offset] != 22)
            {
                return ParseResult.NotTls;
            }

            var recordLength = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(offset + 3, 2));
            if (data.Length < offset + 5 + recordLength)
            {
                needed = offset + 5 + recordLength;
                return ParseResult.NeedMoreData;
            }

            foreach (var b in data.Slice(offset + 5, recordLength))
            {
                handshake.Add(b);
            }

            offset += 5 + recordLength;
            if (messageLength < 0 && handshake.Count >= 4)
            {
                if (handshake[0] != 1)
                {
                    // Not a ClientHello: TLS, but nothing to learn.
                    info = new ClientHelloInfo(true, null, []);
                    return ParseResult.ClientHello;
                }

                messageLength = (handshake[1] << 16) | (handshake[2] << 8) | handshake[3];
            }

            if (messageLength >= 0 && handshake.Count >= 4 + messageLength)
            {
                break;
            }

            if (offset > MaxClientHelloSize)
            {
                return ParseResult.NotTls;
            }
        }

        info = ParseClientHello(handshake.ToArray().AsSpan(4, messageLength));
        return ParseResult.ClientHello;
    }

    private static ClientHelloInfo ParseClientHello(ReadOnlySpan<byte> hello)
    {
        string? serverName = null;
        var alpn = new List<string>();
        var reader = new Reader(hello);

        // client_version(2) random(32) session_id<1> cipher_suites<2> compression_methods<1> extensions<2>
        if (!reader.Skip(2 + 32) || !reader.SkipVector(1) || !reader.SkipVector(2) || !reader.SkipVector(1) || !reader.ReadUInt16(out var extensionsLength))
        {
            return new ClientHelloInfo(true, null, []);
        }

        var extensions = new Reader(reader.Take(extensionsLength));
        while (extensions.ReadUInt16(out var type) && extensions.ReadUInt16(out var length))
        {
            var body = new Reader(extensions.Take(length));
            if (type == 0)
            {
                // server_name: list<2> of { name_type(1), host_name<2> }
                if (body.ReadUInt16(out var listLength))
                {
                    var list = new Reader(body.Take(listLength));
                    while (list.ReadByte(out var nameType) && list.ReadUInt16(out var nameLength))
                    {
                        var name = list.Take(nameLength);
                        if (nameType == 0 && serverName is null && name.Length > 0)
                        {
                            serverName = Encoding.ASCII.GetString(name).ToLowerInvariant();
                        }
                    }
                }
            }
            else if (type == 16)
            {
                // application_layer_protocol_negotiation: list<2> of protocol<1>
                if (body.ReadUInt16(out var listLength))
                {
                    var list = new Reader(body.Take(listLength));
                    while (list.ReadByte(out var protocolLength))
                    {
                        var protocol = list.Take(protocolLength);
                        if (protocol.Length > 0)
                        {
                            alpn.Add(Encoding.ASCII.GetString(protocol));
                        }
                    }
                }
            }
        }

        return new ClientHelloInfo(true, serverName, [.. alpn]);
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _data = data;

        public bool Skip(int count)
        {
            if (_data.Length < count)
            {
                _data = default;
                return false;
            }

            _data = _data[count..];
            return true;
        }

        public bool ReadByte(out int value)
        {
            value = 0;
            if (_data.Length < 1)
            {
                return false;
            }

            value = _data[0];
            _data = _data[1..];
            return true;
        }

        public bool ReadUInt16(out int value)
        {
            value = 0;
            if (_data.Length < 2)
            {
                _data = default;
                return false;
            }

            value = BinaryPrimitives.ReadUInt16BigEndian(_data);
            _data = _data[2..];
            return true;
        }

        public bool SkipVector(int lengthBytes)
        {
            int length;
            if (lengthBytes == 1)
            {
                if (!ReadByte(out length))
                {
                    return false;
                }
            }
            else if (!ReadUInt16(out length))
            {
                return false;
            }

            return Skip(length);
        }

        /// <summary>The next <paramref name="count"/> bytes (fewer when the data ends first; the reader is then empty).</summary>
        public ReadOnlySpan<byte> Take(int count)
        {
            if (_data.Length < count)
            {
                var rest = _data;
                _data = default;
                return rest;
            }

            var taken = _data[..count];
            _data = _data[count..];
            return taken;
        }
    }
}
