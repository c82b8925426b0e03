using System.Net.WebSockets;

namespace SharpProxy.Testing;

public static class WebSocketEcho
{
    public const int MaxMessageBytes = 16 * 1024 * 1024;

    /// <summary>Sends one message and returns the next whole message received (checked to be of the same type).</summary>
    public static async Task<byte[]> RoundTripAsync(WebSocket socket, byte[] message, WebSocketMessageType type, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        await socket.SendAsync(message, type, endOfMessage: true, cancellationToken).ConfigureAwait(false);
        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (received.Length <= MaxMessageBytes)
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new WebSocketException($"Closed by the peer ({result.CloseStatus} '{result.CloseStatusDescription}') instead of an echo.");
            }

            if (result.MessageType != type)
            {
                throw new WebSocketException($"Expected a {type} message, got {result.MessageType}.");
            }

            received.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return received.ToArray();
            }
        }

        throw new WebSocketException("Echoed message larger than the test limit.");
    }
}
