// A migration as code (SPEC §12): cap the temperature of every OpenAI voice agent at 0.5.
// The transform sees each selected agent as it is now and returns its patch, or null to leave it.
// It runs at plan time only; the reviewed plan is what gets applied:
//
//   nova-fleet plan jobs/cap-temperature.migration.mjs --out cap.plan.json
//   nova-fleet apply cap.plan.json --run
//
// The orgs below are the demo mock's (`nova-fleet mock-api`); name your own.
import { defineMigration } from 'nova-fleet';

const CAP = 0.5;

export default defineMigration({
  select: {
    orgs: ['a08ff49b-6f77-4632-a16c-43069c43a8c3', '7cf3c256-32b9-4409-93fb-64afebede10d', 'e8eb2af2-f261-45a8-91cd-424e42a85121'],
    type: 'voice',
    where: { 'llm_config.provider': 'openai' },
  },
  transform(agent) {
    const temperature = agent.llm_config?.temperature;
    return typeof temperature === 'number' && temperature > CAP ? { llm_config: { temperature: CAP } } : null;
  },
});
