namespace AssistenteIa.Domain.ValueObjects;

/// <summary>The business area a task belongs to (names from the user's design notes).</summary>
public enum DomainType
{
    DocumentProcessing,
    CustomerSupport,
    ComplianceCheck,
    ContentCreation,
    DataAnalysis,
    CodeAutomation,
    DecisionAutomation,
    MonitoringAlert,
}

/// <summary>What kind of AI (or non-AI) skill executes the task.</summary>
public enum CapabilityType
{
    LLM_Generation,
    LLM_Classification,
    LLM_Reasoning,
    Vision_OCR,
    Vision_ObjectDetection,
    Embedding_Search,
    RuleEngine,
    ExternalIntegration,
}

/// <summary>How the caller expects the task to be executed.</summary>
public enum ExecutionType
{
    Sync,
    Async,
    Saga,
    HumanInLoop,
    Batch,
    EventDriven,
}

public enum Priority
{
    Low,
    Normal,
    High,
    Critical,
}

/// <summary>The three axes that together name what a task is.</summary>
public readonly record struct TaskType(DomainType Domain, CapabilityType Capability, ExecutionType Execution)
{
    public override string ToString() => $"{Domain}/{Capability}/{Execution}";
}
