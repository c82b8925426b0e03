using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SharpProxy.Deploy.Tests;

/// <summary>Reading Kubernetes-shaped YAML with YamlDotNet's representation model, failing with the path on a missing key.</summary>
internal static partial class Yaml
{
    public static IReadOnlyList<YamlMappingNode> LoadDocuments(string text, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new InvalidOperationException($"{source}: not valid YAML: {e.Message}", e);
        }

        var documents = new List<YamlMappingNode>();
        foreach (var document in stream.Documents)
        {
            switch (document.RootNode)
            {
                case YamlMappingNode mapping:
                    documents.Add(mapping);
                    break;
                case YamlScalarNode { Value: null or "" }:
                    break; // an empty document (e.g. a trailing ---)
                default:
                    throw new InvalidOperationException($"{source}: a document is not a mapping");
            }
        }

        return documents;
    }

    public static YamlNode? Find(this YamlNode node, string key) =>
        node is YamlMappingNode mapping && mapping.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    public static YamlMappingNode Map(this YamlNode node, string key) =>
        node.Find(key) as YamlMappingNode ?? throw new KeyNotFoundException($"mapping '{key}' not found at line {node.Start.Line}");

    public static YamlSequenceNode Seq(this YamlNode node, string key) =>
        node.Find(key) as YamlSequenceNode ?? throw new KeyNotFoundException($"sequence '{key}' not found at line {node.Start.Line}");

    public static string Str(this YamlNode node, string key) =>
        (node.Find(key) as YamlScalarNode)?.Value ?? throw new KeyNotFoundException($"scalar '{key}' not found at line {node.Start.Line}");

    public static string? StrOrNull(this YamlNode node, string key) => (node.Find(key) as YamlScalarNode)?.Value;

    public static int Int(this YamlNode node, string key) => int.Parse(node.Str(key), NumberStyles.Integer, CultureInfo.InvariantCulture);

    public static IEnumerable<YamlMappingNode> Maps(this YamlNode node, string key) =>
        node.Find(key) is YamlSequenceNode sequence ? sequence.Children.Cast<YamlMappingNode>() : [];

    public static List<string> Strings(this YamlNode node, string key) =>
        node.Find(key) is YamlSequenceNode sequence ? sequence.Children.Select(c => ((YamlScalarNode)c).Value ?? "").ToList() : [];

    /// <summary>
    /// True when Kubernetes (YAML 1.1 via sigs.k8s.io/yaml) would read <paramref name="scalar"/> as a string: quoted, a
    /// block scalar, or a plain scalar that does not look like a number, boolean or null. Fields typed string (args,
    /// env values, annotations, labels, ConfigMap data) reject the others.
    /// </summary>
    public static bool IsKubernetesString(YamlScalarNode scalar) =>
        scalar.Style != ScalarStyle.Plain || !NonStringPlainScalar().IsMatch(scalar.Value ?? "");

    [GeneratedRegex(@"^(~|null|Null|NULL|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|[-+]?(0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|0o?[0-7_]+|[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|)$")]
    private static partial Regex NonStringPlainScalar();
}
