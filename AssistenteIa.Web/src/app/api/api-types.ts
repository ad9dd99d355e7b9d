import type { components, paths } from './schema';

/** Types of the REST contract, generated from the OpenAPI document (see package.json "generate:api"). */
export type Task = components['schemas']['TaskDto'];
export type TaskAttempt = components['schemas']['TaskAttemptDto'];
export type TaskArtifact = components['schemas']['TaskArtifactDto'];
export type CreateTaskRequest = components['schemas']['CreateTaskRequest'];
export type TaskStatus = Task['status'];
export type DomainType = Task['type']['domain'];
export type CapabilityType = Task['type']['capability'];
export type ExecutionType = Task['type']['execution'];
export type Priority = Task['priority'];
export type ListTasksQuery = NonNullable<paths['/api/v1/tasks']['get']['parameters']['query']>;
export type StatsQuery = NonNullable<paths['/api/v1/stats']['get']['parameters']['query']>;
export type Stats = paths['/api/v1/stats']['get']['responses'][200]['content']['application/json'];

/** An RFC 9457 problem as the API sends it (validation problems add field errors). */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  traceId?: string;
  errors?: Record<string, string[]>;
}

/** One message of a task's lifecycle, as the event stream sends it. */
export interface TaskEvent {
  event: string;
  sequence: number;
  at: string;
  from: TaskStatus | null;
  status: TaskStatus;
  attemptNo: number;
  task: Task;
}

export const taskStatuses: readonly TaskStatus[] = [
  'Created', 'Queued', 'Reserved', 'Running', 'Succeeded', 'Failed', 'Cancelled', 'DeadLetter',
];
export const domainTypes: readonly DomainType[] = [
  'DocumentProcessing', 'CustomerSupport', 'ComplianceCheck', 'ContentCreation', 'DataAnalysis', 'CodeAutomation',
  'DecisionAutomation', 'MonitoringAlert',
];
export const capabilityTypes: readonly CapabilityType[] = [
  'LLM_Generation', 'LLM_Classification', 'LLM_Reasoning', 'Vision_OCR', 'Vision_ObjectDetection', 'Embedding_Search',
  'RuleEngine', 'ExternalIntegration',
];
export const executionTypes: readonly ExecutionType[] = ['Sync', 'Async', 'Saga', 'HumanInLoop', 'Batch', 'EventDriven'];
export const priorities: readonly Priority[] = ['Low', 'Normal', 'High', 'Critical'];

/** Statuses a task can still be cancelled from. */
export const cancellableStatuses: readonly TaskStatus[] = ['Created', 'Queued', 'Reserved', 'Running', 'Failed'];
export const finalStatuses: readonly TaskStatus[] = ['Succeeded', 'Cancelled', 'DeadLetter'];
