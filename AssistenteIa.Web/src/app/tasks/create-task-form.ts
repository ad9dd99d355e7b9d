import { ChangeDetectionStrategy, Component, inject, output, signal } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { ApiClient, ApiError } from '../api/api-client';
import {
  capabilityTypes, domainTypes, executionTypes, priorities, type CreateTaskRequest, type Task,
} from '../api/api-types';

/** The form that posts a task; the API's validation problems are shown next to the fields they name. */
@Component({
  selector: 'app-create-task-form',
  imports: [ReactiveFormsModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './create-task-form.html',
})
export class CreateTaskForm {
  private readonly api = inject(ApiClient);
  readonly created = output<Task>();

  protected readonly domains = domainTypes;
  protected readonly capabilities = capabilityTypes;
  protected readonly executions = executionTypes;
  protected readonly priorities = priorities;
  protected readonly busy = signal(false);
  protected readonly errors = signal<Record<string, string>>({});
  protected readonly formError = signal<string | null>(null);

  protected readonly form = inject(NonNullableFormBuilder).group({
    domain: ['CustomerSupport' as Task['type']['domain'], Validators.required],
    capability: ['LLM_Generation' as Task['type']['capability'], Validators.required],
    execution: ['Async' as Task['type']['execution'], Validators.required],
    priority: ['Normal' as Task['priority']],
    prompt: ['', Validators.required],
    context: [''],
    idempotencyKey: [''],
    maxAttempts: [null as number | null],
    latencyMs: [0],
    failAttempts: [0],
    failure: ['Transient' as 'Transient' | 'Permanent'],
  });

  protected error(field: string): string | undefined {
    return this.errors()[field];
  }

  async submit(): Promise<void> {
    const value = this.form.getRawValue();
    const request: CreateTaskRequest = {
      type: { domain: value.domain, capability: value.capability, execution: value.execution },
      priority: value.priority,
      payload: {
        prompt: value.prompt,
        context: value.context || null,
        simulation: value.latencyMs || value.failAttempts
          ? { latencyMs: Number(value.latencyMs) || 0, failAttempts: Number(value.failAttempts) || 0, failure: value.failure }
          : undefined,
      },
      maxAttempts: value.maxAttempts ?? null,
    };
    this.busy.set(true);
    this.errors.set({});
    this.formError.set(null);
    try {
      const task = await this.api.createTask(request, value.idempotencyKey.trim() || undefined);
      this.form.patchValue({ prompt: '', context: '', idempotencyKey: '' });
      this.created.emit(task);
    } catch (e) {
      if (e instanceof ApiError) {
        this.errors.set(e.fieldErrors());
        this.formError.set(e.problem.detail ?? e.problem.title ?? 'The task was not accepted.');
      } else {
        this.formError.set('The API cannot be reached. Try again.');
      }
    } finally {
      this.busy.set(false);
    }
  }
}
