using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace SharpProxy.Deploy.Tests;

/// <summary>One YAML document under deploy/: <see cref="Folder"/> is its directory relative to deploy/ (e.g. "gateway").</summary>
internal sealed record Manifest(string File, int Index, YamlMappingNode Node)
{
    public string Folder => Path.GetDirectoryName(File)!.Replace(Path.DirectorySeparatorChar, '/');

    public string? Kind => Node.StrOrNull("kind");

    public string? ApiVersion => Node.StrOrNull("apiVersion");

    public string? Name => Node.Find("metadata")?.StrOrNull("name");

    public override string ToString() => $"deploy/{File}#{Index} {Kind}/{Name}";
}

/// <summary>A pod spec the deploy/ manifests create: a Deployment's or Job's template, or the rendered Istio template.</summary>
internal sealed record PodUnderTest(string Id, string Folder, YamlMappingNode Metadata, YamlMappingNode Spec, int TerminationGracePeriodSeconds)
{
    /// <summary>Kubernetes' default terminationGracePeriodSeconds.</summary>
    public const int KubernetesDefaultGracePeriodSeconds = 30;

    public IEnumerable<YamlMappingNode> InitContainers => Spec.Maps("initContainers");

    public IEnumerable<YamlMappingNode> Containers => Spec.Maps("containers");

    /// <summary>Containers running the SharpProxy image as the proxy (not as <c>sharpproxy iptables</c>).</summary>
    public IEnumerable<YamlMappingNode> ProxyContainers =>
        InitContainers.Concat(Containers).Where(c => Images.IsSharpProxy(c.Str("image")) && c.Strings("args").FirstOrDefault() != "iptables");

    public IEnumerable<YamlMappingNode> CaptureInitContainers =>
        InitContainers.Where(c => Images.IsSharpProxy(c.Str("image")) && c.Strings("args").FirstOrDefault() == "iptables");

    public override string ToString() => Id;
}

internal static class Images
{
    /// <summary>The image built from the repository's Dockerfile, under whatever registry a kustomization points it at.</summary>
    public static bool IsSharpProxy(string image)
    {
        var withoutTag = image.Split('@')[0];
        var lastSlash = withoutTag.LastIndexOf('/');
        var colon = withoutTag.IndexOf(':', lastSlash + 1);
        var repository = colon >= 0 ? withoutTag[..colon] : withoutTag;
        return repository == "sharpproxy" || repository.EndsWith("/sharpproxy", StringComparison.Ordinal);
    }
}

/// <summary>Everything under deploy/, loaded once.</summary>
internal static partial class DeployTree
{
    public const string IstioTemplateFile = "istio/sharpproxy-injection-template.yaml";
    public const string IstioOperatorFile = "istio/istio-operator.yaml";
    public const string IstioTemplatePodId = "istio/sharpproxy-injection-template";

    private static readonly Lazy<IReadOnlyList<Manifest>> LazyManifests = new(Load);
    private static readonly Lazy<IReadOnlyList<PodUnderTest>> LazyPods = new(LoadPods);

    public static IReadOnlyList<Manifest> All => LazyManifests.Value;

    /// <summary>Documents that are Kubernetes objects (have apiVersion and kind), without kustomizations and install-time overlays.</summary>
    public static IEnumerable<Manifest> KubernetesObjects =>
        All.Where(m => m.Kind is not null && m.ApiVersion is not null && m.Kind is not ("Kustomization" or "IstioOperator"));

    public static IReadOnlyList<PodUnderTest> Pods => LazyPods.Value;

    public static PodUnderTest Pod(string id) => Pods.Single(p => p.Id == id);

    public static Manifest Object(string folder, string kind, string name) =>
        KubernetesObjects.SingleOrDefault(m => m.Folder == folder && m.Kind == kind && m.Name == name)
        ?? throw new KeyNotFoundException($"no {kind}/{name} in deploy/{folder}");

    /// <summary>The <c>sharpproxy</c> template from the istiod Helm values file.</summary>
    public static string IstioTemplateText =>
        All.Single(m => m.File == IstioTemplateFile).Node.Map("sidecarInjectorWebhook").Map("templates").Str("sharpproxy");

    public static string IstioOperatorTemplateText =>
        All.Single(m => m.File == IstioOperatorFile).Node.Map("spec").Map("values").Map("sidecarInjectorWebhook").Map("templates").Str("sharpproxy");

    private static IReadOnlyList<Manifest> Load()
    {
        var manifests = new List<Manifest>();
        foreach (var path in Directory.EnumerateFiles(Repository.DeployDirectory, "*.yaml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = Path.GetRelativePath(Repository.DeployDirectory, path).Replace(Path.DirectorySeparatorChar, '/');
            var documents = Yaml.LoadDocuments(File.ReadAllText(path), "deploy/" + relative);
            for (var i = 0; i < documents.Count; i++)
            {
                manifests.Add(new Manifest(relative, i, documents[i]));
            }
        }

        return manifests;
    }

    private static IReadOnlyList<PodUnderTest> LoadPods()
    {
        var pods = new List<PodUnderTest>();
        foreach (var manifest in KubernetesObjects)
        {
            if (manifest.Kind is "Deployment" or "Job" or "StatefulSet" or "DaemonSet")
            {
                var template = manifest.Node.Map("spec").Map("template");
                var spec = template.Map("spec");
                var grace = spec.Find("terminationGracePeriodSeconds") is null ? PodUnderTest.KubernetesDefaultGracePeriodSeconds : spec.Int("terminationGracePeriodSeconds");
                pods.Add(new PodUnderTest($"{manifest.File}#{manifest.Kind}/{manifest.Name}", manifest.Folder, template.Map("metadata"), spec, grace));
            }
        }

        // What istiod's injector adds to a pod that asks for the template; the pod's own grace period is Kubernetes'
        // default unless the pod sets one (the sample app sets 30).
        var rendered = Yaml.LoadDocuments(IstioTemplate.RenderWithDefaults(IstioTemplateText), IstioTemplateFile + " (rendered)").Single();
        pods.Add(new PodUnderTest(IstioTemplatePodId, "istio", rendered.Map("metadata"), rendered.Map("spec"), PodUnderTest.KubernetesDefaultGracePeriodSeconds));
        return pods;
    }
}

/// <summary>
/// Renders the injection template the way istiod would for a pod that sets none of the template's annotations. Only the
/// actions the template is allowed to use are understood (<c>annotation .ObjectMeta `KEY` `DEFAULT`</c>,
/// <c>index .ObjectMeta.Labels `KEY`</c> and <c>.DeploymentMeta.Name</c>); any other action fails the test, so the
/// template cannot grow logic these tests do not see.
/// </summary>
internal static partial class IstioTemplate
{
    public const string SampleDeploymentName = "echo";

    /// <summary>The pod labels of the sample (deploy/istio/sample-app.yaml).</summary>
    public static readonly IReadOnlyDictionary<string, string> SampleLabels = new Dictionary<string, string>(StringComparer.Ordinal) { ["app"] = "echo", ["version"] = "v1" };

    public static string RenderWithDefaults(string template) => Render(template, new Dictionary<string, string>());

    /// <summary>Renders for a pod that carries <paramref name="podAnnotations"/> (values are inserted as istiod would: verbatim).</summary>
    public static string Render(string template, IReadOnlyDictionary<string, string> podAnnotations) => Action().Replace(template, match =>
    {
        var body = match.Groups["body"].Value.Trim();
        var annotation = AnnotationWithDefault().Match(body);
        if (annotation.Success)
        {
            return podAnnotations.TryGetValue(annotation.Groups["key"].Value, out var value) ? value : annotation.Groups["default"].Value;
        }

        var label = LabelIndex().Match(body);
        if (label.Success)
        {
            return SampleLabels.GetValueOrDefault(label.Groups["key"].Value, ""); // Go's index of a missing map key: ""
        }

        return body switch
        {
            ".DeploymentMeta.Name" => SampleDeploymentName,
            _ => throw new InvalidOperationException($"template action the tests cannot render: {match.Value}"),
        };
    });

    /// <summary>Every annotation key the template reads, with its default.</summary>
    public static IReadOnlyDictionary<string, string> AnnotationDefaults(string template)
    {
        var defaults = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match match in Action().Matches(template))
        {
            var annotation = AnnotationWithDefault().Match(match.Groups["body"].Value.Trim());
            if (annotation.Success)
            {
                var key = annotation.Groups["key"].Value;
                var value = annotation.Groups["default"].Value;
                if (defaults.TryGetValue(key, out var previous) && previous != value)
                {
                    throw new InvalidOperationException($"annotation {key} has two defaults: '{previous}' and '{value}'");
                }

                defaults[key] = value;
            }
        }

        return defaults;
    }

    [GeneratedRegex(@"\{\{-?(?<body>.*?)-?\}\}", RegexOptions.Singleline)]
    private static partial Regex Action();

    [GeneratedRegex(@"^annotation \.ObjectMeta `(?<key>[^`]+)` `(?<default>[^`]*)`$")]
    private static partial Regex AnnotationWithDefault();

    [GeneratedRegex(@"^index \.ObjectMeta\.Labels `(?<key>[^`]+)`$")]
    private static partial Regex LabelIndex();
}
