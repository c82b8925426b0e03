using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace SharpProxy.Deploy.Tests;

/// <summary>
/// Structure Kubernetes and kustomize would check on apply, checked here without a cluster: names, string-typed fields,
/// selectors, Service ports, volumes, ConfigMap references, resources, and kustomizations that list every object.
/// </summary>
public sealed partial class ManifestTests
{
    [Fact]
    public void DeployTree_HasTheFourDeployments()
    {
        var kinds = DeployTree.KubernetesObjects.Select(m => $"{m.Folder}/{m.Kind}").ToHashSet();

        Assert.Contains("plain/Deployment", kinds);
        Assert.Contains("plain/Service", kinds);
        Assert.Contains("plain/ServiceAccount", kinds);
        Assert.Contains("gateway/Deployment", kinds);
        Assert.Contains("gateway/Service", kinds);
        Assert.Contains("gateway/PodDisruptionBudget", kinds);
        Assert.Contains("gateway/HorizontalPodAutoscaler", kinds);
        Assert.Contains("perf/Deployment", kinds);
        Assert.Contains("perf/Job", kinds);
        Assert.Contains("istio/Deployment", kinds);
        Assert.Equal("LoadBalancer", DeployTree.Object("gateway", "Service", "sharpproxy-gateway").Node.Map("spec").Str("type"));
    }

    [Fact]
    public void EveryObject_HasAValidName()
    {
        var problems = DeployTree.KubernetesObjects
            .Where(m => m.Name is null || !Dns1123Subdomain().IsMatch(m.Name))
            .Select(m => $"{m}: metadata.name is not a DNS-1123 name")
            .ToList();

        Assert.True(problems.Count == 0, string.Join('\n', problems));
        var duplicates = DeployTree.KubernetesObjects.GroupBy(m => $"{m.Folder}/{m.Kind}/{m.Name}").Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, "defined twice: " + string.Join(", ", duplicates));
    }

    [Fact]
    public void StringTypedFields_AreStringsToKubernetes()
    {
        // A plain 15001 or true in args, env values, annotations, labels or ConfigMap data is an int/bool to the API
        // server, which then rejects the object: these must be quoted.
        var problems = new List<string>();
        foreach (var manifest in DeployTree.KubernetesObjects)
        {
            Walk(manifest.Node, "", manifest.ToString(), problems);
        }

        foreach (var pod in DeployTree.Pods.Where(p => p.Id == DeployTree.IstioTemplatePodId))
        {
            Walk(pod.Metadata, "metadata", pod.Id, problems);
            Walk(pod.Spec, "spec", pod.Id, problems);
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void Workloads_SelectTheirOwnPods_AndServicesSelectAPod()
    {
        var problems = new List<string>();
        foreach (var manifest in DeployTree.KubernetesObjects.Where(m => m.Kind == "Deployment"))
        {
            var spec = manifest.Node.Map("spec");
            var podLabels = Labels(spec.Map("template").Map("metadata"));
            foreach (var (key, value) in Labels(spec.Map("selector"), "matchLabels"))
            {
                if (!podLabels.TryGetValue(key, out var actual) || actual != value)
                {
                    problems.Add($"{manifest}: selector {key}={value} does not match the pod template");
                }
            }
        }

        foreach (var service in DeployTree.KubernetesObjects.Where(m => m.Kind == "Service"))
        {
            var selector = Labels(service.Node.Map("spec"), "selector");
            var pods = DeployTree.Pods.Where(p => p.Folder == service.Folder && selector.All(s => Labels(p.Metadata).GetValueOrDefault(s.Key) == s.Value)).ToList();
            if (pods.Count == 0)
            {
                problems.Add($"{service}: selects no pod in deploy/{service.Folder}");
                continue;
            }

            foreach (var port in service.Node.Map("spec").Maps("ports"))
            {
                var target = port.StrOrNull("targetPort") ?? port.Str("port");
                var declared = pods.SelectMany(p => p.Containers).SelectMany(c => c.Maps("ports"))
                    .Any(p => p.StrOrNull("name") == target || p.Str("containerPort") == target);
                if (!declared)
                {
                    problems.Add($"{service}: targetPort {target} is not a container port of the pods it selects");
                }
            }
        }

        foreach (var manifest in DeployTree.KubernetesObjects.Where(m => m.Kind is "PodDisruptionBudget"))
        {
            var selector = Labels(manifest.Node.Map("spec").Map("selector"), "matchLabels");
            if (!DeployTree.Pods.Any(p => p.Folder == manifest.Folder && selector.All(s => Labels(p.Metadata).GetValueOrDefault(s.Key) == s.Value)))
            {
                problems.Add($"{manifest}: selects no pod");
            }
        }

        foreach (var manifest in DeployTree.KubernetesObjects.Where(m => m.Kind is "HorizontalPodAutoscaler"))
        {
            var target = manifest.Node.Map("spec").Map("scaleTargetRef");
            DeployTree.Object(manifest.Folder, target.Str("kind"), target.Str("name"));
            if (manifest.Node.Map("spec").Int("minReplicas") < 2)
            {
                problems.Add($"{manifest}: fewer than 2 replicas leaves the PodDisruptionBudget nothing to keep");
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void Pods_MountOnlyDeclaredVolumes_AndConfigMapsThatExist()
    {
        var problems = new List<string>();
        foreach (var pod in DeployTree.Pods)
        {
            var volumes = pod.Spec.Maps("volumes").ToDictionary(v => v.Str("name"));
            foreach (var container in pod.InitContainers.Concat(pod.Containers))
            {
                foreach (var mount in container.Maps("volumeMounts"))
                {
                    if (!volumes.ContainsKey(mount.Str("name")))
                    {
                        problems.Add($"{pod}/{container.Str("name")}: mounts undeclared volume {mount.Str("name")}");
                    }
                }
            }

            foreach (var volume in volumes.Values.Where(v => v.Find("configMap") is not null))
            {
                var name = volume.Map("configMap").Str("name");
                if (!DeployTree.KubernetesObjects.Any(m => m.Folder == pod.Folder && m.Kind == "ConfigMap" && m.Name == name))
                {
                    problems.Add($"{pod}: ConfigMap {name} is not defined in deploy/{pod.Folder}");
                }
            }

            var names = pod.InitContainers.Concat(pod.Containers).Select(c => c.Str("name")).ToList();
            if (names.Distinct().Count() != names.Count)
            {
                problems.Add($"{pod}: container names repeat");
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void EveryContainer_HasRequestsAndAMemoryLimit()
    {
        var problems = new List<string>();
        foreach (var pod in DeployTree.Pods)
        {
            foreach (var container in pod.InitContainers.Concat(pod.Containers))
            {
                var resources = container.Find("resources");
                if (resources?.Find("requests")?.Find("cpu") is null || resources.Find("requests")?.Find("memory") is null || resources.Find("limits")?.Find("memory") is null)
                {
                    problems.Add($"{pod}/{container.Str("name")}: needs requests.cpu, requests.memory and limits.memory");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void Kustomizations_ListEveryObjectInTheirFolder()
    {
        var kustomizations = DeployTree.All.Where(m => m.Kind == "Kustomization").ToList();

        Assert.Equal(["gateway", "istio", "istio/canary", "perf", "plain"], kustomizations.Select(k => k.Folder).Order(StringComparer.Ordinal));
        foreach (var kustomization in kustomizations)
        {
            var resources = kustomization.Node.Strings("resources");
            Assert.All(resources, r => Assert.True(File.Exists(Path.Combine(Repository.DeployDirectory, kustomization.Folder, r)), $"{kustomization}: {r} does not exist"));
            var files = DeployTree.KubernetesObjects.Where(m => m.Folder == kustomization.Folder).Select(m => Path.GetFileName(m.File)).ToHashSet();
            Assert.Equal(files.Order(StringComparer.Ordinal), resources.Order(StringComparer.Ordinal));
        }
    }

    private static void Walk(YamlNode node, string path, string source, List<string> problems)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    var name = ((YamlScalarNode)key).Value ?? "";
                    var childPath = path.Length == 0 ? name : path + "." + name;
                    var stringValued = name is "args" or "command" || path.EndsWith("annotations", StringComparison.Ordinal) ||
                        path.EndsWith("labels", StringComparison.Ordinal) || path.EndsWith("matchLabels", StringComparison.Ordinal) ||
                        path.EndsWith("selector", StringComparison.Ordinal) || (name == "value" && path.EndsWith("env[]", StringComparison.Ordinal)) ||
                        path == "data";
                    if (stringValued)
                    {
                        CheckStrings(value, childPath, source, problems);
                    }

                    Walk(value, childPath, source, problems);
                }

                break;
            case YamlSequenceNode sequence:
                foreach (var child in sequence.Children)
                {
                    Walk(child, path + "[]", source, problems);
                }

                break;
        }
    }

    private static void CheckStrings(YamlNode node, string path, string source, List<string> problems)
    {
        IEnumerable<YamlNode> scalars = node switch
        {
            YamlSequenceNode sequence => sequence.Children,
            YamlScalarNode => [node],
            _ => [],
        };
        foreach (var scalar in scalars.OfType<YamlScalarNode>().Where(s => !Yaml.IsKubernetesString(s)))
        {
            problems.Add($"{source}: {path} value '{scalar.Value}' (line {scalar.Start.Line}) is not a string to Kubernetes: quote it");
        }
    }

    private static Dictionary<string, string> Labels(YamlMappingNode node, string key = "labels") =>
        node.Find(key) is YamlMappingNode labels
            ? labels.Children.ToDictionary(c => ((YamlScalarNode)c.Key).Value!, c => ((YamlScalarNode)c.Value).Value ?? "")
            : [];

    [GeneratedRegex("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    private static partial Regex Dns1123Subdomain();
}
