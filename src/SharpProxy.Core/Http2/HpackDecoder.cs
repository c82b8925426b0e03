namespace SharpProxy.Core.Http2;

/// <summary>Receives the fields of a decoded header block, in order.</summary>
internal interface IHpackHeaderSink
{
    // Called once per decoded field, in order. Spans are only valid during the call. Names arrive as sent
    // (HTTP/2 requires lower case; the decoder does NOT validate case — the caller does).
    void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value);
}

internal enum HpackError
{
    None,
    CompressionError,
    HeaderListTooLarge,
}

/// <summary>
/// HPACK header block decoder (RFC 7541) for one HTTP/2 connection direction. All buffers are allocated in the
/// constructor: the dynamic table keeps its entries' bytes back to back in one buffer (oldest first) with a ring
/// of entry descriptors, and Huffman-coded strings are decoded into a scratch buffer. Decode allocates nothing.
/// After an error the table state is undefined: the caller must close the connection.
/// </summary>
internal sealed class HpackDecoder
{
    private const int EntryOverhead = 32; // RFC 7541 4.1
    private const int MaxIntegerContinuationBytes = 5;

    private readonly int _maxTableSize;
    private readonly int _maxHeaderListSize;

    // Dynamic table. Live bytes are _bytes[oldest entry start .. _writePosition); entries never wrap.
    private readonly byte[] _bytes;
    private readonly int[] _entryStart;
    private readonly int[] _entryNameLength;
    private readonly int[] _entryValueLength;
    private int _oldestSlot;
    private int _count;
    private int _writePosition;
    private int _size;
    private int _capacity;

    // Huffman-decoded strings, and a copy of a dynamic-table name that is about to be re-inserted.
    private readonly byte[] _scratch;

    public HpackDecoder(int maxTableSize = 4096, int maxHeaderListSize = 65536)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxTableSize);
        ArgumentOutOfRangeException.ThrowIfNegative(maxHeaderListSize);
        _maxTableSize = maxTableSize;
        _maxHeaderListSize = maxHeaderListSize;
        _capacity = maxTableSize;
        _bytes = new byte[maxTableSize];
        int slots = maxTableSize / EntryOverhead + 1;
        _entryStart = new int[slots];
        _entryNameLength = new int[slots];
        _entryValueLength = new int[slots];
        _scratch = new byte[Math.Max(maxHeaderListSize, maxTableSize)];
    }

    /// <summary>Current dynamic table size in RFC terms (sum of name + value + 32 over entries).</summary>
    public int DynamicTableSize => _size;

    public int DynamicTableCount => _count;

    /// <summary>Decodes one complete header block (HEADERS + CONTINUATION payloads concatenated).</summary>
    public HpackError Decode(ReadOnlySpan<byte> block, IHpackHeaderSink sink)
    {
        int position = 0;
        bool fieldSeen = false;
        long headerListSize = 0;
        while (position < block.Length)
        {
            byte first = block[position];
            ReadOnlySpan<byte> name;
            ReadOnlySpan<byte> value;

            if ((first & 0x80) != 0)
            {
                // Indexed header field (6.1).
                if (!TryReadInteger(block, ref position, 7, out int index) || !TryGetEntry(index, out name, out value))
                    return HpackError.CompressionError;
                fieldSeen = true;
                headerListSize += name.Length + value.Length + EntryOverhead;
                if (headerListSize > _maxHeaderListSize)
                    return HpackError.HeaderListTooLarge;
                sink.OnHeader(name, value);
                continue;
            }

            if ((first & 0xe0) == 0x20)
            {
                // Dynamic table size update (6.3): only before the first field of a block (4.2).
                if (fieldSeen || !TryReadInteger(block, ref position, 5, out int newCapacity) || newCapacity > _maxTableSize)
                    return HpackError.CompressionError;
                _capacity = newCapacity;
                EvictUntilFits(0);
                continue;
            }

            // Literal header field: with incremental indexing 01xxxxxx (6.2.1, 6-bit index),
            // without indexing 0000xxxx (6.2.2) or never indexed 0001xxxx (6.2.3), 4-bit index.
            bool addToTable = (first & 0xc0) == 0x40;
            if (!TryReadInteger(block, ref position, addToTable ? 6 : 4, out int nameIndex))
                return HpackError.CompressionError;
            fieldSeen = true;

            int scratchUsed = 0;
            HpackError error;
            if (nameIndex == 0)
            {
                error = ReadString(block, ref position, ref scratchUsed, out name);
                if (error != HpackError.None)
                    return error;
            }
            else
            {
                if (!TryGetEntry(nameIndex, out name, out _))
                    return HpackError.CompressionError;
                if (addToTable && nameIndex > HpackStaticTable.Count)
                {
                    // Inserting may evict (and move) the very entry the name lives in (4.4): copy it first.
                    name.CopyTo(_scratch);
                    scratchUsed = name.Length;
                    name = new ReadOnlySpan<byte>(_scratch, 0, scratchUsed);
                }
            }

            error = ReadString(block, ref position, ref scratchUsed, out value);
            if (error != HpackError.None)
                return error;

            headerListSize += name.Length + value.Length + EntryOverhead;
            if (headerListSize > _maxHeaderListSize)
                return HpackError.HeaderListTooLarge;
            if (addToTable)
                Insert(name, value);
            sink.OnHeader(name, value);
        }
        return HpackError.None;
    }

    /// <summary>Integer with an N-bit prefix (5.1); rejects values above int.MaxValue and over-long encodings.</summary>
    internal static bool TryReadInteger(ReadOnlySpan<byte> block, ref int position, int prefixBits, out int value)
    {
        int mask = (1 << prefixBits) - 1;
        int result = block[position++] & mask;
        if (result < mask)
        {
            value = result;
            return true;
        }
        long accumulated = result;
        int shift = 0;
        for (int continuation = 0; continuation < MaxIntegerContinuationBytes; continuation++)
        {
            if (position >= block.Length)
                break;
            byte next = block[position++];
            accumulated += (long)(next & 0x7f) << shift;
            if (accumulated > int.MaxValue)
                break;
            if ((next & 0x80) == 0)
            {
                value = (int)accumulated;
                return true;
            }
            shift += 7;
        }
        value = 0;
        return false;
    }

    /// <summary>A string literal (5.2): raw strings stay in the block, Huffman-coded ones go to the scratch buffer.</summary>
    private HpackError ReadString(ReadOnlySpan<byte> block, scoped ref int position, scoped ref int scratchUsed, out ReadOnlySpan<byte> text)
    {
        text = default;
        if (position >= block.Length)
            return HpackError.CompressionError;
        bool huffman = (block[position] & 0x80) != 0;
        if (!TryReadInteger(block, ref position, 7, out int length) || length > block.Length - position)
            return HpackError.CompressionError;
        ReadOnlySpan<byte> encoded = block.Slice(position, length);
        position += length;
        if (!huffman)
        {
            text = encoded;
            return HpackError.None;
        }
        int written = Huffman.DecodeCore(encoded, _scratch.AsSpan(scratchUsed));
        if (written == Huffman.DestinationTooSmall)
            return HpackError.HeaderListTooLarge; // the name and value alone exceed the list limit
        if (written < 0)
            return HpackError.CompressionError;
        text = new ReadOnlySpan<byte>(_scratch, scratchUsed, written);
        scratchUsed += written;
        return HpackError.None;
    }

    /// <summary>Static (1..61) or dynamic (62..) entry; false for 0 or an index past the dynamic table.</summary>
    private bool TryGetEntry(int index, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        if (index >= 1 && index <= HpackStaticTable.Count)
        {
            name = HpackStaticTable.Name(index);
            value = HpackStaticTable.Value(index);
            return true;
        }
        int dynamicIndex = index - HpackStaticTable.Count - 1; // 0 = newest
        if (dynamicIndex < 0 || dynamicIndex >= _count)
        {
            name = default;
            value = default;
            return false;
        }
        int slot = (_oldestSlot + _count - 1 - dynamicIndex) % _entryStart.Length;
        int start = _entryStart[slot];
        int nameLength = _entryNameLength[slot];
        name = new ReadOnlySpan<byte>(_bytes, start, nameLength);
        value = new ReadOnlySpan<byte>(_bytes, start + nameLength, _entryValueLength[slot]);
        return true;
    }

    private void Insert(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        int entrySize = name.Length + value.Length + EntryOverhead;
        if (entrySize > _capacity)
        {
            // 4.4: an entry larger than the table empties it and is not added; not an error.
            EvictUntilFits(_capacity + 1);
            return;
        }
        EvictUntilFits(entrySize);

        int length = name.Length + value.Length;
        if (_writePosition + length > _bytes.Length)
            Compact();
        int slot = (_oldestSlot + _count) % _entryStart.Length;
        _entryStart[slot] = _writePosition;
        _entryNameLength[slot] = name.Length;
        _entryValueLength[slot] = value.Length;
        name.CopyTo(_bytes.AsSpan(_writePosition));
        value.CopyTo(_bytes.AsSpan(_writePosition + name.Length));
        _writePosition += length;
        _count++;
        _size += entrySize;
    }

    /// <summary>Evicts oldest entries until <paramref name="incomingSize"/> more fits in the capacity.</summary>
    private void EvictUntilFits(int incomingSize)
    {
        while (_count > 0 && _size + incomingSize > _capacity)
        {
            int slot = _oldestSlot;
            _size -= _entryNameLength[slot] + _entryValueLength[slot] + EntryOverhead;
            _oldestSlot = (slot + 1) % _entryStart.Length;
            _count--;
        }
        if (_count == 0)
            _writePosition = 0;
    }

    /// <summary>Moves the live bytes to the start of the buffer so the next entry fits after them.</summary>
    private void Compact()
    {
        int liveStart = _entryStart[_oldestSlot];
        if (liveStart == 0)
            return;
        Buffer.BlockCopy(_bytes, liveStart, _bytes, 0, _writePosition - liveStart);
        _writePosition -= liveStart;
        for (int i = 0; i < _count; i++)
        {
            int slot = (_oldestSlot + i) % _entryStart.Length;
            _entryStart[slot] -= liveStart;
        }
    }
}
