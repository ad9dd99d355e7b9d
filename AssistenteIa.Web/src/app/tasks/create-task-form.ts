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

  /** The problem fields shown next to an input of this form. */
  private static readonly shownFields = new Set([
    'type.domain', 'type.capability', 'type.execution', 'priority', 'payload.prompt', 'payload.context', 'maxAttempts', 'payload.simulation',
  ]);

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
        const fields = e.fieldErrors();
        this.errors.set(fields);
        // Problems about what the form has no field for (the idempotency key header, the payload as a whole, the model)
        // are shown in the form's own message, so no message is lost.
        const unshown = Object.entries(fields).filter(([field]) => !CreateTaskForm.shownFields.has(field)).map(([, message]) => message);
        this.formError.set([e.problem.detail ?? e.problem.title ?? 'The task was not accepted.', ...unshown].join(' '));
      } else {
        this.formError.set('The API cannot be reached. Try again.');
      }
    } finally {
      this.busy.set(false);
    }
  }
}
