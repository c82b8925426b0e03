using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SharpProxy.Xds.Bootstrap;

/// <summary>
/// YAML to JSON the way Envoy reads YAML: plain scalars become numbers, booleans and nulls when they look like them,
/// quoted scalars stay strings. Protobuf's JSON parser then reads the result.
/// </summary>
internal static class YamlJson
{
    /// <exception cref="FormatException">The text is not valid YAML (message names line and column).</exception>
    public static JsonNode? Parse(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw new FormatException($"invalid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {ex.Message}", ex);
        }
        catch (InvalidOperationException ex)
        {
            // YamlDotNet reports some structural errors (an unterminated flow sequence) this way, without a position.
            throw new FormatException("invalid YAML (line unknown): " + ex.Message, ex);
        }

        if (stream.Documents.Count == 0)
        {
            return new JsonObject();
        }

        return Convert(stream.Documents[0].RootNode, "");
    }

    private static JsonNode? Convert(YamlNode node, string path)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                {
                    var result = new JsonObject();
                    foreach (var (keyNode, valueNode) in mapping.Children)
                    {
                        var key = keyNode is YamlScalarNode scalarKey ? scalarKey.Value ?? "" : keyNode.ToString();
                        var childPath = path.Length == 0 ? key : path + "." + key;
                        if (result.ContainsKey(key))
                        {
                            throw new FormatException($"{childPath}: duplicate key (line {keyNode.Start.Line})");
                        }

                        result[key] = Convert(valueNode, childPath);
                    }

                    return result;
                }

            case YamlSequenceNode sequence:
                {
                    var result = new JsonArray();
                    var index = 0;
                    foreach (var child in sequence.Children)
                    {
                        result.Add(Convert(child, path + "[" + index++ + "]"));
                    }

                    return result;
                }

            case YamlScalarNode scalar:
                return ConvertScalar(scalar);
            default:
                throw new FormatException($"{path}: unsupported YAML node at line {node.Start.Line}");
        }
    }

    private static JsonNode? ConvertScalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        if (scalar.Style != ScalarStyle.Plain)
        {
            return JsonValue.Create(text);
        }

        switch (text)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }

        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return JsonValue.Create(integer);
        }

        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var unsigned))
        {
            return JsonValue.Create(unsigned);
        }

        if (text.Length > 0 && (char.IsAsciiDigit(text[0]) || text[0] is '-' or '+' or '.')
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var real))
        {
            return JsonValue.Create(real);
        }

        return JsonValue.Create(text);
    }
}
