export default function Home() {
  return (
    <main>
      <h1>Eka Care webhooks</h1>
      <p>
        Webhooks are received at <code>POST /api/eka-webhook</code>.
      </p>
    </main>
  )
}
